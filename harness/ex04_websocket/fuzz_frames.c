/*
 * fuzz_frames.c - a libFuzzer target for the frame decoder of exercise 4
 * (ws_frame_parse in ws.c) and the pure helpers around it.  Built and run
 * by harness/ex04_websocket/fuzz.sh against the reference solution:
 *
 *   harness/ex04_websocket/fuzz.sh [SECONDS]
 *
 * The first input byte picks max_payload; the rest is read as a stream of
 * client frames, the way conn_read_frames does, and every result is checked
 * against the contract in ws.h.  Any violation aborts (libFuzzer then saves
 * the input); ASan and UBSan catch reads out of bounds and overflows.
 */
#include "ws.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz_frames: contract broken: %s (line %d)\n", #cond, \
                    __LINE__);                                                   \
            abort();                                                             \
        }                                                                        \
    } while (0)

static const size_t caps[] = { 0, 1, 125, 126, 65535, 65536, 1 << 20, (size_t)-1 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t max, pos = 0;
    unsigned char hdr[WS_MAX_HEADER_LEN];

    if (size == 0)
        return 0;
    max = caps[data[0] % (sizeof(caps) / sizeof(caps[0]))];
    data++;
    size--;
    while (pos <= size) {
        struct ws_frame f;
        ssize_t rc = ws_frame_parse(data + pos, size - pos, max, &f);
        size_t eff = max > WS_PAYLOAD_LIMIT ? WS_PAYLOAD_LIMIT : max;

        if (rc < 0) {
            CHECK(rc == -WS_CLOSE_PROTOCOL || rc == -WS_CLOSE_TOO_BIG);
            break;
        }
        if (rc == 0) {
            if (f.header_len != 0) {
                CHECK(f.header_len >= 6 && f.header_len <= WS_MAX_HEADER_LEN);
                CHECK(f.payload == NULL);
                CHECK(f.header_len + f.payload_len > size - pos);
            }
            break;
        }
        CHECK((size_t)rc <= size - pos);
        CHECK(f.header_len >= 6 && f.header_len <= WS_MAX_HEADER_LEN);
        CHECK((uint64_t)rc == f.header_len + f.payload_len);
        CHECK(f.payload == data + pos + f.header_len);
        CHECK(f.opcode <= WS_OP_BINARY || (f.opcode >= WS_OP_CLOSE && f.opcode <= WS_OP_PONG));
        if (f.opcode >= WS_OP_CLOSE) {
            CHECK(f.fin == 1 && f.payload_len <= WS_MAX_CONTROL_PAYLOAD);
        } else {
            CHECK(f.payload_len <= eff);
        }
        /* Unmask a copy, as the server does, and look at it. */
        {
            size_t n = (size_t)f.payload_len;
            unsigned char *p = malloc(n + 1);
            unsigned code = 0;
            CHECK(p != NULL);
            memcpy(p, f.payload, n);
            ws_mask(p, n, f.mask);
            if (f.opcode == WS_OP_CLOSE) {
                int bad = ws_close_parse(p, n, &code);
                CHECK(bad == 0 || bad == WS_CLOSE_PROTOCOL || bad == WS_CLOSE_BAD_DATA);
                CHECK(bad != 0 || (code >= 1000 && code < 5000));
            } else if (f.opcode == WS_OP_TEXT) {
                (void)ws_utf8_valid(p, n);
            }
            ws_mask(p, n, f.mask);
            CHECK(memcmp(p, f.payload, n) == 0);
            free(p);
        }
        /* The encoder writes a header that announces the same length. */
        {
            size_t hl = ws_frame_header(hdr, f.fin, f.opcode, f.payload_len);
            CHECK(hl == 2 || hl == 4 || hl == 10);
            CHECK((hdr[1] & 0x80) == 0);
        }
        pos += (size_t)rc;
    }
    return 0;
}
