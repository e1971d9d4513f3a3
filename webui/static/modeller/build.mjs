// Bundles the embedded modeller (bpmn-js / dmn-js with the Camunda 7 properties panels) with esbuild
// into webui/static/build/ (git-ignored; `make run` and `make test` run this after `npm ci`).
// Usage: node webui/static/modeller/build.mjs
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "..", "build");

await build({
  entryPoints: {
    modeller: join(here, "modeller.js"),
    "modeller-style": join(here, "modeller.css"),
  },
  outdir,
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome100", "firefox100", "safari15"],
  legalComments: "linked",
  loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".eot": "file", ".svg": "file" },
  assetNames: "assets/[name]-[hash]",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});
console.log(`modeller bundle written to ${outdir}`);
