// jbdiff.maxpat against the JavaScript: every live.* object is a known parameter with the same
// range and default, is wired to the [js], and every object the glue addresses exists.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { DEVICE, protocol } = require("./helpers");

const patch = JSON.parse(fs.readFileSync(path.join(DEVICE, "jbdiff.maxpat"), "utf8")).patcher;
const boxes = patch.boxes.map((b) => b.box);
const byId = new Map(boxes.map((b) => [b.id, b]));
const glue = fs.readFileSync(path.join(DEVICE, "jbdiff_device.js"), "utf8");

function outgoing(id) {
    return patch.lines.map((l) => l.patchline).filter((l) => l.source[0] === id).map((l) => byId.get(l.destination[0]));
}

const liveParams = boxes.filter((b) => b.maxclass.startsWith("live.") && b.parameter_enable === 1);
const js = boxes.find((b) => b.maxclass === "newobj" && /^js jbdiff_device\.js$/.test(b.text));

test("every live.* parameter of the patch is a device parameter with the same name, range and default", () => {
    assert.deepEqual(liveParams.map((b) => b.varname).sort(), protocol.PARAMS.map((p) => p.name).sort());
    for (const box of liveParams) {
        const spec = protocol.paramSpec(box.varname);
        const v = box.saved_attribute_attributes.valueof;
        assert.equal(v.parameter_longname, spec.longname);
        assert.equal(v.parameter_shortname, spec.shortname);
        const [lo, hi] = protocol.paramRange(spec);
        assert.deepEqual([v.parameter_mmin, v.parameter_mmax], [lo, hi], spec.name);
        assert.deepEqual(v.parameter_initial, [spec.initial], spec.name);
        assert.equal(v.parameter_initial_enable, 1);
        assert.equal(v.parameter_invisible, spec.hidden ? 1 : 0, spec.name);
        if (spec.type === "enum") {
            assert.deepEqual(v.parameter_enum, spec.items);
        }
        assert.equal(v.parameter_type, { float: 0, int: 1, enum: 2, toggle: 2, button: 2 }[spec.type]);
        assert.ok(box.annotation && box.annotation.length > 10, `${spec.name} has no info text`);
    }
});

test("each parameter reaches the [js]: values through [prepend param <name>], buttons as a message", () => {
    for (const box of liveParams) {
        const spec = protocol.paramSpec(box.varname);
        const [next] = outgoing(box.id);
        assert.ok(next, `${spec.name} is not connected`);
        if (spec.type === "button") {
            assert.equal(next.maxclass, "message");
            assert.equal(next.text, spec.name);
            assert.match(glue, new RegExp(`function ${spec.name}\\(`));
        } else {
            assert.equal(next.text, `prepend param ${spec.name}`);
        }
        assert.deepEqual(outgoing(next.id), [js], spec.name);
    }
});

test("every message box and prepend that feeds the [js] names a function of the glue", () => {
    const feeders = patch.lines.map((l) => l.patchline).filter((l) => l.destination[0] === js.id)
        .map((l) => byId.get(l.source[0]));
    const selectors = new Set();
    for (const box of feeders) {
        if (box.maxclass === "message") {
            selectors.add(box.text.split(" ")[0]);
        } else if (box.maxclass === "newobj" && box.text.startsWith("prepend ")) {
            selectors.add(box.text.split(" ")[1]);
        }
    }
    assert.ok(selectors.size >= 15);
    for (const name of selectors) {
        assert.match(glue, new RegExp(`\\nfunction ${name}\\(`), `the glue has no function ${name}`);
    }
});

test("every object the glue addresses by scripting name is in the patch", () => {
    const named = new Set(boxes.filter((b) => b.varname).map((b) => b.varname));
    const used = new Set();
    for (const m of glue.matchAll(/\bui\("([a-z_]+)"/g)) {
        used.add(m[1]);
    }
    for (const m of glue.matchAll(/save\("([a-z]+)"/g)) {
        used.add(`${m[1]}_store`);
    }
    assert.ok(used.size >= 12);
    for (const name of used) {
        assert.ok(named.has(name), `no object named ${name}`);
    }
});

test("the [js] outlets go to [udpsend] and [udpreceive]; replies come back into it", () => {
    const send = boxes.find((b) => b.text && b.text.startsWith("udpsend "));
    const recv = boxes.find((b) => b.text && b.text.startsWith("udpreceive "));
    const lines = patch.lines.map((l) => l.patchline);
    const has = (src, o, dst) => lines.some((l) => l.source[0] === src.id && l.source[1] === o && l.destination[0] === dst.id);
    assert.ok(has(js, 0, send) && has(js, 1, recv) && has(recv, 0, js));
    assert.equal(js.numoutlets, Number(/\noutlets = (\d+);/.exec(glue)[1]));
    assert.equal(js.numinlets, Number(/\ninlets = (\d+);/.exec(glue)[1]));
});

test("the model menu is a plain umenu (not a Live parameter) whose index reaches the [js] as `model`", () => {
    const menu = boxes.find((b) => b.varname === "model_menu");
    assert.ok(menu, "no model_menu");
    assert.equal(menu.maxclass, "umenu");
    assert.equal(menu.parameter_enable, 0);              // names come from the server, which keeps the choice
    assert.ok(!(menu.id in patch.parameters), "model_menu is listed as a parameter");
    assert.equal(menu.presentation, 1);
    assert.ok(menu.annotation && menu.annotation.length > 10, "model_menu has no info text");
    const lines = patch.lines.map((l) => l.patchline).filter((l) => l.source[0] === menu.id);
    assert.equal(lines.length, 1);
    assert.equal(lines[0].source[1], 0);                 // the index outlet, like recent_menu
    const prepend = byId.get(lines[0].destination[0]);
    assert.equal(prepend.text, "prepend model");
    assert.deepEqual(outgoing(prepend.id), [js]);
    assert.match(glue, /\nfunction model\(index\)/);
    for (const name of ["clear", "append", "set"]) {
        assert.match(glue, new RegExp(`ui\\("model_menu", "${name}"`), name);
    }
});

test("in presentation the model menu overlaps no other control and stays inside the device", () => {
    const shown = boxes.filter((b) => b.presentation === 1 && b.presentation_rect);
    const menu = shown.find((b) => b.varname === "model_menu");
    const label = shown.find((b) => b.maxclass === "comment" && b.text === "Model");
    const overlaps = (a, b) => {
        const [ax, ay, aw, ah] = a.presentation_rect;
        const [bx, by, bw, bh] = b.presentation_rect;
        return ax < bx + bw && bx < ax + aw && ay < by + bh && by < ay + ah;
    };
    for (const box of [menu, label]) {
        const [x, y, w, h] = box.presentation_rect;
        assert.ok(x >= 0 && y >= 0 && x + w <= patch.devicewidth && y + h <= patch.openrect[3], JSON.stringify(box.presentation_rect));
        for (const other of shown) {
            if (other !== box) {
                assert.ok(!overlaps(box, other), `${box.varname || box.text} overlaps ${other.varname || other.text}`);
            }
        }
    }
});

test("every patch line joins existing outlets and inlets", () => {
    for (const { patchline: l } of patch.lines) {
        const src = byId.get(l.source[0]);
        const dst = byId.get(l.destination[0]);
        assert.ok(src && dst, JSON.stringify(l));
        assert.ok(l.source[1] < src.numoutlets, `${src.text || src.maxclass} has no outlet ${l.source[1]}`);
        assert.ok(l.destination[1] < dst.numinlets, `${dst.text || dst.maxclass} has no inlet ${l.destination[1]}`);
    }
});

test("audio passes through: plugin~ both channels into plugout~", () => {
    const plugin = boxes.find((b) => b.text === "plugin~");
    const plugout = boxes.find((b) => b.text === "plugout~");
    const lines = patch.lines.map((l) => l.patchline);
    for (const ch of [0, 1]) {
        assert.ok(lines.some((l) => l.source[0] === plugin.id && l.source[1] === ch &&
                                    l.destination[0] === plugout.id && l.destination[1] === ch));
    }
});

test("the JavaScript the device needs is next to it and listed as a dependency", () => {
    const deps = patch.dependency_cache.map((d) => d.name).sort();
    assert.deepEqual(deps, ["jbdiff_device.js", "jbdiff_protocol.js", "jbdiff_session.js"]);
    for (const name of deps) {
        assert.ok(fs.existsSync(path.join(DEVICE, name)), name);
    }
    const required = [...glue.matchAll(/require\("([a-z_]+)"\)/g)].map((m) => `${m[1]}.js`);
    for (const name of required) {
        assert.ok(deps.includes(name), `${name} is required but not a dependency`);
    }
});
