// A tiny static file server for the benchmark page, on loopback only.
//
// It serves files of the repository under a few allowed prefixes (the page
// and its npm dependencies under /bench/browser/, the built moonvault
// package under /web/pkg/) and nothing else: no directory listings, no
// paths outside those prefixes (`..` is resolved before the check). The
// wasm MIME type matters: WebAssembly.instantiateStreaming, which
// wasm-bindgen's and Emscripten's loaders use, refuses anything else.
// Every answer carries COOP/COEP, making the page cross-origin isolated
// (finer timer).
//
// `node serve.mjs` serves on http://127.0.0.1:8765/ for looking at the page
// by hand; run.mjs imports `serve` and picks a free port.
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.ts': 'text/plain; charset=utf-8',
};

/** The repository root (two levels above this file). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** URL prefixes the server answers; everything else is a 404. */
export const ALLOWED = ['/bench/browser/', '/web/pkg/'];

/**
 * Serves `root` on 127.0.0.1:`port` (0: any free port). Resolves to
 * `{ url, close }` once listening; `url` ends with a slash. `webPkg`
 * (default: $BENCH_WEB_PKG, else root/web/pkg) is what /web/pkg/ serves,
 * so another build of the package can be measured without copying it.
 */
export function serve({ root = REPO_ROOT, port = 0, webPkg = process.env.BENCH_WEB_PKG } = {}) {
  const pkgDir = resolve(webPkg ?? resolve(root, 'web/pkg'));
  const server = createServer((req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    const file = path.startsWith('/web/pkg/')
      ? resolve(pkgDir, '.' + path.slice('/web/pkg'.length))
      : resolve(root, '.' + path);
    const inside =
      file.startsWith(pkgDir + sep) ||
      ALLOWED.some((p) => p !== '/web/pkg/' && file.startsWith(resolve(root, '.' + p) + sep));
    let size = -1;
    if (inside && (req.method === 'GET' || req.method === 'HEAD')) {
      try {
        const st = statSync(file);
        if (st.isFile()) size = st.size;
      } catch {
        // Missing: answered below.
      }
    }
    if (size < 0) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': size,
      'cache-control': 'no-store',
      // Cross-origin isolation: performance.now() then resolves to 5 µs.
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address();
      ok({
        url: `http://127.0.0.1:${bound}/`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { url } = await serve({ port: Number(process.env.PORT ?? 8765) });
  console.log(`serving ${REPO_ROOT} (${ALLOWED.join(', ')}) at ${url}bench/browser/index.html`);
}
