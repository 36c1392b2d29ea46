// Replaces (or appends) one `## ` section of docs/benchmarks.md, so that each benchmark
// script rewrites only its own results.
'use strict';
const fs = require('fs');
const path = require('path');

function writeSection(root, heading, md) {
  const file = path.join(root, 'docs/benchmarks.md');
  let doc = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n\n';
  const start = doc.indexOf(`${heading}\n`);
  if (start >= 0) {
    const next = doc.indexOf('\n## ', start + 1);
    doc = doc.slice(0, start) + md + (next >= 0 ? doc.slice(next + 1) : '');
  } else {
    doc = doc.trimEnd() + '\n\n' + md;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, doc);
  process.stderr.write(`wrote ${file}\n`);
}

module.exports = { writeSection };
