// Bundles src/ into dist/ (served as static files; STATICFILES_DIRS points at dist/ only, never at
// node_modules). ES modules with code splitting, so a page loads only what it uses: twilio-video is a
// chunk the classroom imports only when the real video provider is configured.
import { cp, rm } from "node:fs/promises";
import * as esbuild from "esbuild";

const outdir = "dist";
await rm(outdir, { recursive: true, force: true });
await esbuild.build({
  entryPoints: {
    "js/common": "src/common.js",
    "js/booking": "src/booking.js",
    "js/payment": "src/payment.js",
    "js/classroom": "src/classroom.js",
    "js/earnings": "src/earnings.js",
    "js/availability": "src/availability.js",
    "js/receipt": "src/receipt.js",
    "css/app": "src/app.css",
  },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "browser",
  target: ["es2020"],
  minify: true,
  sourcemap: true,
  chunkNames: "js/chunks/[name]-[hash]",
  // Dependencies written for Node (twilio-video's `util`) read these; browsers have neither.
  define: { "process.env.NODE_DEBUG": "false", "process.env.NODE_ENV": '"production"', global: "globalThis" },
  logLevel: "warning",
});
await cp("src/img", `${outdir}/img`, { recursive: true });
