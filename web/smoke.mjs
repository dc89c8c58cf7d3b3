// Loads the built package (web/pkg) in Node and checks that Lua runs:
// catches a wasm-opt or encoding problem that breaks instantiation or
// exception handling, and an entry module that does not load. Node has no
// IndexedDB, so stores are tested in Chromium (scripts/test-pages.sh).
// Run by scripts/build-web.sh after wasm-opt.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { initialize, evalLua, LuaError, Moonvault } from './pkg/moonvault.js';

await initialize(readFileSync(new URL('./pkg/moonvault_web_bg.wasm', import.meta.url)));

assert.equal(await evalLua('return 1 + 2'), '3');
assert.equal(await evalLua('return pcall(error, "boom", 0)'), 'false\tboom');
assert.equal(await evalLua('return load(string.dump(function(a) return a * 2 end))(21)'), '42');
await assert.rejects(evalLua('local t = {} for i = 1, 1e7 do t[i] = {} end'), (e) =>
  e instanceof LuaError && /not enough memory/.test(e.message));
await assert.rejects(evalLua('error("x")'), (e) => e instanceof LuaError && e.luaMessage === 'eval:1: x');
assert.equal(await evalLua('collectgarbage() return #{ 1, 2, 3 }'), '3');
assert.equal(typeof Moonvault.open, 'function');
console.log('smoke: the optimized package runs Lua in Node', process.version);
