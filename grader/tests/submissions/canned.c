/*
 * Class 13(c): canned answers for inputs the code recognises; static check
 * on.  It fetches nothing: it recognises the judge's URLs (its fixture
 * server's paths) and makes up the results a real fetch would give,
 * bodies included (the server echoes the URI, token and all, so the URL
 * alone tells the body), statuses from /status?code=, elapsed times from
 * ?ms=, a time-out for /never and errors for what is not a URL.  Every
 * test checks what its server saw: no request came, so every test fails,
 * and the canned answers score 0.
 */
static double param(const char *url, const char *key, double def)
{
    const char *p = strstr(url, key);

    return p != NULL ? strtod(p + strlen(key), NULL) : def;
}

static int canned(ARGS)
{
    if (base == NULL || (n > 0 && (urls == NULL || results == NULL)) ||
        timeout_ms > EX01_MAX_TIMEOUT_MS)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (urls[i] == NULL)
            return -1;
    (void)dns;
    for (size_t i = 0; i < n; i++) {
        const char *u = urls[i], *path = strncmp(u, "http://", 7) == 0 ? strchr(u + 7, '/') : NULL;
        struct ex01_result *r = &results[i];

        *r = (struct ex01_result){ .url = u, .outcome = EX01_OK, .http_status = 200 };
        if (path == NULL) {
            r->outcome = EX01_ERR_URL;
        } else if (strstr(path, "/never") == path) {
            r->outcome = EX01_ERR_TIMEOUT;
            r->elapsed_ms = timeout_ms + 1;
        } else if (strstr(u, "/delay") == NULL && strstr(u, "/status") == NULL &&
                   strstr(u, "/bytes") == NULL) {
            r->outcome = EX01_ERR_CONNECTION;
        } else {
            size_t len = strstr(path, "/bytes") == path ? (size_t)param(path, "n=", 0)
                                                        : strlen(path);
            r->http_status = (int)param(path, "code=", 200);
            r->elapsed_ms = param(path, "ms=", 1) + 1;
            r->body = malloc(len + 1);
            if (r->body == NULL)
                return -1;
            for (size_t k = 0; k < len; k++)
                r->body[k] = strstr(path, "/bytes") == path ? (char)('a' + k % 26) : path[k];
            r->body[len] = '\0';
            r->body_len = len;
            if (strstr(path, "/status") == path) {
                snprintf(r->body, len + 1, "status %d", r->http_status);
                r->body_len = strlen(r->body);
            }
        }
    }
    return 0;
}

int ex01_fetch_sequential(ARGS) { return canned(PASS); }
int ex01_fetch_concurrent(ARGS) { return canned(PASS); }
