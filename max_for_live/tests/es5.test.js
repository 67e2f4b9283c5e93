// Max's [js] object runs JavaScript 1.8.5 (about ES5): the files it loads must parse as ES5 and
// must not call library functions added later. Node ships the acorn parser; it is reached
// with --expose-internals in a child process so the check needs no npm package.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { DEVICE } = require("./helpers");

const MAX_FILES = ["jbdiff_device.js", "jbdiff_session.js", "jbdiff_protocol.js"];

const PARSE = `
const acorn = require("internal/deps/acorn/acorn/dist/acorn");
const fs = require("fs");
const bad = [];
for (const file of process.argv.slice(1)) {
    try {
        acorn.parse(fs.readFileSync(file, "utf8"), { ecmaVersion: 5, sourceType: "script" });
    } catch (e) {
        bad.push(file + ": " + e.message);
    }
}
process.stdout.write(JSON.stringify(bad));
`;

test("the files Max loads parse as ES5", () => {
    const files = MAX_FILES.map((f) => path.join(DEVICE, f));
    const run = spawnSync(process.execPath, ["--expose-internals", "-e", PARSE, ...files], { encoding: "utf8" });
    assert.equal(run.status, 0, `cannot run Node's acorn parser: ${run.stderr}`);
    assert.deepEqual(JSON.parse(run.stdout), []);
});

test("the ES5 check itself rejects newer syntax", () => {
    const tmp = path.join(require("node:os").tmpdir(), `es5-check-${process.pid}.js`);
    fs.writeFileSync(tmp, "const f = (x) => `${x}`;\n");
    try {
        const run = spawnSync(process.execPath, ["--expose-internals", "-e", PARSE, tmp], { encoding: "utf8" });
        assert.equal(JSON.parse(run.stdout).length, 1);
    } finally {
        fs.unlinkSync(tmp);
    }
});

// Library calls newer than ES5 that would parse but fail at run time inside Max.
const NEWER = [/\.includes\(/, /\.startsWith\(/, /\.endsWith\(/, /\.padStart\(/, /\.padEnd\(/, /\.repeat\(/,
               /Object\.assign\(/, /Object\.entries\(/, /Object\.values\(/, /Array\.from\(/, /\.find\(/,
               /\.findIndex\(/, /Number\.isFinite\(/, /Number\.isInteger\(/, /\bPromise\b/, /\bSymbol\b/,
               /\bMap\(/, /\bSet\(/];

test("the files Max loads call no library function newer than ES5", () => {
    for (const name of MAX_FILES) {
        const code = fs.readFileSync(path.join(DEVICE, name), "utf8")
            .replace(/\/\/.*$/gm, "")                        // comments may mention anything
            .replace(/"(?:[^"\\\n]|\\.)*"/g, '""');          // so may strings
        for (const pattern of NEWER) {
            assert.doesNotMatch(code, pattern, `${name} uses ${pattern}`);
        }
    }
});
