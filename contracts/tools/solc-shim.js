#!/usr/bin/env node
// forge talks to a native `solc` binary; none can be downloaded here, so this
// shim makes solc-js (npm `solc`, pinned in package.json) look like one.
// forge only needs two things from it: `--version` in native solc's format,
// and `--standard-json` compilation from stdin to stdout. Other flags are
// ignored on purpose (forge passes e.g. --allow-paths, which solc-js does not
// need because imports are resolved below from the file system).
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

if (process.argv.includes('--version')) {
  // Native solc prints "Version: 0.8.30+commit.73712a01.Linux.g++"; forge
  // parses the semver out of that line. solc-js reports "0.8.30+commit.73712a01.Emscripten.clang".
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}

// forge runs solc from the project root with paths relative to it, plus
// --base-path/--include-path; honour them so imports resolve the same way.
const roots = [process.cwd()];
for (let i = 0; i < process.argv.length; i++) {
  const flag = process.argv[i];
  if ((flag === '--base-path' || flag === '--include-path') && process.argv[i + 1]) {
    roots.push(path.resolve(process.argv[i + 1]));
  }
}

function findImports(importPath) {
  for (const root of roots) {
    const candidate = path.resolve(root, importPath);
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, 'utf8') };
  }
  return { error: `File not found: ${importPath}` };
}

const input = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImports }));
