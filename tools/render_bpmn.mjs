#!/usr/bin/env node
// Open BPMN and DMN files in bpmn-js / dmn-js inside headless Chromium, print the import warnings as JSON
// and optionally write a PNG of each diagram.
//
//   node tools/render_bpmn.mjs [--png-dir DIR] FILE...
//
// Prints {"files": {FILE: {"warnings": [...], "error": null, "png": "DIR/NAME.png" | null}}}
// (x.bpmn -> x.png, x.dmn -> x.dmn.png).
// Warnings come from the *Modeler* bundles (what a process owner sees when opening the file in the
// embedded modeller); the PNG comes from the Viewer (no palette). Nothing is fetched from the network:
// the bundles are injected from node_modules into an about:blank page.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MODULES = join(ROOT, 'node_modules');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const PAD = 20;

function parseArgs(argv) {
  const files = [];
  let pngDir = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--png-dir') pngDir = argv[++i];
    else if (argv[i].startsWith('--png-dir=')) pngDir = argv[i].slice('--png-dir='.length);
    else files.push(argv[i]);
  }
  if (!files.length) {
    process.stderr.write('usage: node tools/render_bpmn.mjs [--png-dir DIR] FILE...\n');
    process.exit(2);
  }
  return { files, pngDir };
}

async function newPage(context, bundles) {
  const page = await context.newPage();
  await page.route('**/*', (route) => route.abort()); // no network, ever
  await page.setContent('<!DOCTYPE html><html><head><meta charset="utf-8">'
    + '<style>.view-drd { display: none }</style></head>'
    + '<body style="margin:0;background:#fff"><div id="canvas"></div></body></html>');
  for (const bundle of bundles) await page.addScriptTag({ path: join(MODULES, bundle) });
  for (const css of [
    'bpmn-js/dist/assets/diagram-js.css', 'bpmn-js/dist/assets/bpmn-js.css',
    'dmn-js/dist/assets/dmn-js-shared.css', 'dmn-js/dist/assets/dmn-js-decision-table.css',
    'dmn-js/dist/assets/dmn-js-drd.css',
  ]) {
    await page.addStyleTag({ path: join(MODULES, css) });
  }
  return page;
}

// Runs in the browser: import with the Modeler, report warnings.
async function importInModeler({ xml, kind }) {
  const container = document.getElementById('canvas');
  container.innerHTML = '';
  container.style.width = '1600px';
  container.style.height = '1000px';
  const Modeler = kind === 'dmn' ? window.DmnJS : window.BpmnJS;
  const modeler = new Modeler({ container });
  try {
    const { warnings } = await modeler.importXML(xml);
    return { warnings: warnings.map((w) => w.message || String(w)), error: null };
  } catch (err) {
    return { warnings: (err.warnings || []).map((w) => w.message || String(w)), error: err.message };
  } finally {
    modeler.destroy();
  }
}

// Runs in the browser: import with the Viewer, size the container to the diagram; returns the size and
// the element to photograph (a DMN file shows its first decision table).
async function showInViewer({ xml, kind, pad }) {
  const container = document.getElementById('canvas');
  if (window.currentViewer) window.currentViewer.destroy();
  container.innerHTML = '';
  container.style.width = '4000px';
  container.style.height = '3000px';
  const Viewer = kind === 'dmn' ? window.DmnJS : window.BpmnJS;
  const viewer = new Viewer({ container });
  window.currentViewer = viewer;
  await viewer.importXML(xml);
  if (kind === 'dmn') {
    const table = viewer.getViews().find((view) => view.type === 'decisionTable');
    if (table) await viewer.open(table);
    container.style.width = 'max-content';
    container.style.height = 'auto';
    container.style.padding = `${pad}px`;
    const box = container.getBoundingClientRect();
    return { width: Math.ceil(box.width), height: Math.ceil(box.height) };
  }
  const canvas = viewer.get('canvas');
  const inner = canvas.viewbox().inner;
  const width = Math.ceil(inner.width + 2 * pad);
  const height = Math.ceil(inner.height + 2 * pad);
  container.style.width = `${width}px`;
  container.style.height = `${height}px`;
  canvas.resized();
  canvas.viewbox({ x: inner.x - pad, y: inner.y - pad, width, height });
  return { width, height };
}

async function main() {
  const { files, pngDir } = parseArgs(process.argv.slice(2));
  const userDataDir = mkdtempSync(join(tmpdir(), 'render-bpmn-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
    viewport: { width: 1600, height: 1000 },
  });
  const result = {};
  try {
    const modelerPage = await newPage(context, [
      'bpmn-js/dist/bpmn-modeler.production.min.js',
      'dmn-js/dist/dmn-modeler.production.min.js',
    ]);
    const viewerPage = pngDir ? await newPage(context, [
      'bpmn-js/dist/bpmn-viewer.production.min.js',
      'dmn-js/dist/dmn-viewer.production.min.js',
    ]) : null;
    for (const file of files) {
      const xml = readFileSync(file, 'utf8');
      const kind = file.toLowerCase().endsWith('.dmn') ? 'dmn' : 'bpmn';
      const entry = await modelerPage.evaluate(importInModeler, { xml, kind });
      entry.png = null;
      if (viewerPage && entry.error === null) {
        const size = await viewerPage.evaluate(showInViewer, { xml, kind, pad: PAD });
        await viewerPage.setViewportSize({ width: Math.max(size.width, 200), height: Math.max(size.height, 100) });
        const png = join(pngDir, basename(file).replace(/\.bpmn$/i, '') + '.png'); // x.dmn -> x.dmn.png
        await viewerPage.locator('#canvas').screenshot({ path: png, animations: 'disabled' });
        entry.png = png;
      }
      result[file] = entry;
    }
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify({ files: result }, null, 2) + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
