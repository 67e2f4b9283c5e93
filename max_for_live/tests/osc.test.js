// The Node-side OSC codec: OSC 1.0 byte layout and round trips.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { DEVICE } = require("./helpers");

const osc = require(path.join(DEVICE, "jbdiff_osc.js"));

test("the OSC 1.0 specification's example message encodes to its published bytes", () => {
    // opensoundcontrol.org, OSC 1.0 spec, "Examples": /oscillator/4/frequency ,f 440.0
    const expected = Buffer.from(
        "2f6f7363696c6c61746f722f342f6672657175656e637900" + "2c660000" + "43dc0000", "hex");
    const bytes = osc.encodeMessage({ address: "/oscillator/4/frequency", args: [{ type: "f", value: 440.0 }] });
    assert.deepEqual(bytes, expected);
});

test("the specification's second example (/foo ,iisff) encodes to its published bytes", () => {
    const expected = Buffer.from(
        "2f666f6f00000000" + "2c69697366660000" + "000003e8" + "ffffffff" + "68656c6c6f000000" +
        "3f9df3b6" + "40b5b22d", "hex");
    const bytes = osc.encodeMessage({
        address: "/foo",
        args: [{ type: "i", value: 1000 }, { type: "i", value: -1 }, { type: "s", value: "hello" },
               { type: "f", value: 1.234 }, { type: "f", value: 5.678 }],
    });
    assert.deepEqual(bytes, expected);
});

test("strings pad to four bytes with at least one NUL, and decode back", () => {
    for (const text of ["", "a", "abc", "abcd", "/Users/me/Music/take one.wav", "größe"]) {
        const bytes = osc.encodeMessage({ address: "/x", args: [{ type: "s", value: text }] });
        assert.equal(bytes.length % 4, 0);
        const [message] = osc.decodePacket(bytes);
        assert.deepEqual(osc.values(message), [text]);
    }
});

test("round trip of every supported type", () => {
    const message = {
        address: "/jbdiff/job/done",
        args: [{ type: "s", value: "j1" }, { type: "i", value: -7 }, { type: "f", value: 0.5 },
               { type: "d", value: 1.25 }, { type: "b", value: Buffer.from([1, 2, 3]) },
               { type: "T", value: true }, { type: "F", value: false }, { type: "N", value: null }],
    };
    const [back] = osc.decodePacket(osc.encodeMessage(message));
    assert.equal(back.address, message.address);
    assert.deepEqual(back.args.map((a) => a.type), message.args.map((a) => a.type));
    assert.deepEqual(back.args[4].value, Buffer.from([1, 2, 3]));
    assert.deepEqual(osc.values(back).slice(0, 4), ["j1", -7, 0.5, 1.25]);
});

test("bundles are flattened into their messages", () => {
    const a = osc.encodeMessage({ address: "/a", args: [{ type: "i", value: 1 }] });
    const b = osc.encodeMessage({ address: "/b", args: [] });
    const size = (buf) => { const n = Buffer.alloc(4); n.writeInt32BE(buf.length, 0); return n; };
    const bundle = Buffer.concat([Buffer.from("#bundle\0"), Buffer.alloc(8), size(a), a, size(b), b]);
    assert.deepEqual(osc.decodePacket(bundle).map((m) => m.address), ["/a", "/b"]);
});

test("bad input is refused with a reason", () => {
    assert.throws(() => osc.encodeMessage({ address: "nope", args: [] }), /starts with '\/'/);
    assert.throws(() => osc.encodeMessage({ address: "/x", args: [{ type: "i", value: 1.5 }] }), /int32/);
    assert.throws(() => osc.encodeMessage({ address: "/x", args: [{ type: "f", value: NaN }] }), /finite/);
    assert.throws(() => osc.decodePacket(Buffer.from("hello")), /not an OSC packet/);
    const cut = osc.encodeMessage({ address: "/x", args: [{ type: "i", value: 1 }] }).slice(0, 10);
    assert.throws(() => osc.decodePacket(cut), /truncated|terminated/);
});
