// Shared by the device tests: the server's address table (docs/osc.json) and checks against it.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..", "..");
const DEVICE = path.join(ROOT, "max_for_live", "device");
const API = JSON.parse(fs.readFileSync(path.join(ROOT, "docs", "osc.json"), "utf8"));

const protocol = require(path.join(DEVICE, "jbdiff_protocol.js"));

function route(address) {
    return API.routes.find((r) => r.address === address) || null;
}

function param(name) {
    return API.params.find((p) => p.name === name) || null;
}

// Addresses the server answers on or sends by itself (the first word of each reply signature).
function serverAddresses() {
    const out = new Set([API.errors.address]);
    for (const r of API.routes) {
        for (const reply of r.replies) {
            if (reply.startsWith("/")) {
                out.add(reply.split(" ")[0]);
            }
        }
    }
    for (const e of API.events) {
        out.add(e.address);
    }
    return out;
}

// One argument against a documented type (int, float, string, any); [] when it fits.
function argProblems(where, type, arg) {
    const ok = {
        int: arg.type === "i",
        float: arg.type === "f" || arg.type === "i",
        string: arg.type === "s",
        any: ["i", "f", "s"].includes(arg.type),
    }[type];
    if (ok === undefined) {
        return [`${where}: unknown documented type ${type}`];
    }
    return ok ? [] : [`${where}: expected ${type}, got OSC '${arg.type}' ${JSON.stringify(arg.value)}`];
}

// A generate value against the parameter table's type (docs/osc.json "params").
function pairProblems(key, arg) {
    if (key === "tag") {
        return arg.type === "s" && arg.value.length > 0 && arg.value.length <= 96 ? [] : [`tag: bad ${arg.value}`];
    }
    const p = param(key);
    if (p === null) {
        return [`${key}: not a parameter of the server`];
    }
    const isDefault = arg.type === "s" && arg.value === "default";
    if (isDefault && p.default === "default") {
        return [];
    }
    const problems = [];
    switch (p.type) {
    case "float":
        if (!((arg.type === "f" || arg.type === "i") && Number.isFinite(arg.value))) {
            problems.push(`${key}: expected a number, got '${arg.type}' ${arg.value}`);
        }
        break;
    case "int":
        if (!(arg.type === "i" && Number.isInteger(arg.value))) {
            problems.push(`${key}: expected an int, got '${arg.type}' ${arg.value}`);
        }
        break;
    case "int|'random'":
        if (!((arg.type === "i" && Number.isInteger(arg.value)) || (arg.type === "s" && arg.value === "random"))) {
            problems.push(`${key}: expected an int or 'random', got '${arg.type}' ${arg.value}`);
        }
        break;
    case "int (0/1)":
        if (!(arg.type === "i" && (arg.value === 0 || arg.value === 1))) {
            problems.push(`${key}: expected int 0 or 1, got '${arg.type}' ${arg.value}`);
        }
        break;
    case "string":
        if (arg.type !== "s") {
            problems.push(`${key}: expected a string, got '${arg.type}' ${arg.value}`);
        } else if (p.choices.length && !p.choices.includes(arg.value)) {
            problems.push(`${key}: ${arg.value} is not one of ${p.choices.join(", ")}`);
        }
        break;
    case "string|int":
        if (!(arg.type === "s" || arg.type === "i")) {
            problems.push(`${key}: expected a string or int, got '${arg.type}'`);
        }
        break;
    default:
        problems.push(`${key}: unknown documented type ${p.type}`);
    }
    return problems;
}

// Everything wrong with a message the device wants to send; [] when the server's table accepts it.
function messageProblems(message) {
    const r = route(message.address);
    if (r === null) {
        return [`${message.address}: not in the server's address table`];
    }
    const args = message.args;
    const required = r.args.filter((a) => !a.optional).length;
    if (args.length < required || (r.rest === null && args.length > r.args.length)) {
        return [`${message.address}: ${args.length} argument(s) for ${r.args.length}${r.rest ? "+" : ""}`];
    }
    let problems = [];
    r.args.forEach((a, k) => {
        if (k < args.length) {
            problems = problems.concat(argProblems(`${message.address} ${a.name}`, a.type, args[k]));
        }
    });
    if (message.address === protocol.ADDRESS.generate) {
        const rest = args.slice(r.args.length);
        if (rest.length % 2) {
            return [`${message.address}: odd number of key/value arguments`];
        }
        const seen = new Set();
        for (let k = 0; k < rest.length; k += 2) {
            const key = rest[k];
            if (key.type !== "s") {
                problems.push(`key at ${k} is not a string`);
                continue;
            }
            if (seen.has(key.value)) {
                problems.push(`${key.value}: given twice`);
            }
            seen.add(key.value);
            problems = problems.concat(pairProblems(key.value, rest[k + 1]));
        }
        if (seen.has("seconds") && seen.has("bars")) {
            problems.push("seconds and bars together");
        }
    } else if (message.address === protocol.ADDRESS.paramSet) {
        if (param(args[0].value) === null) {
            problems.push(`${args[0].value}: not a parameter`);
        } else {
            problems = problems.concat(pairProblems(args[0].value, args[1]));
        }
    }
    return problems;
}

// The device's values at every corner the live.* objects allow (min, max, default, each enum item).
function* valueCorners() {
    const base = protocol.defaultValues();
    yield base;
    for (const spec of protocol.PARAMS) {
        const [lo, hi] = protocol.paramRange(spec);
        const steps = spec.type === "enum" ? spec.items.map((_, k) => k) : [lo, hi];
        for (const v of steps) {
            yield { ...base, [spec.name]: v };
        }
    }
    yield { ...base, embedding_auto: 0, embedding_strength: 0 };
    yield { ...base, embedding_auto: 0, embedding_strength: 50 };
    yield { ...base, steps_2: 1000, steps_1: 1, steps_0: 7, steps_dd: 3 };
}

// A fake clock the tests move by hand.
function clock(start) {
    let t = start || 1000;
    const now = () => t;
    now.advance = (ms) => { t += ms; };
    return now;
}

// Deterministic numbers in [0, 1) for seeds and ids.
function sequence(values) {
    let k = 0;
    return () => values[k++ % values.length];
}

module.exports = {
    ROOT, DEVICE, API, protocol, route, param, serverAddresses, messageProblems, valueCorners, clock, sequence,
};
