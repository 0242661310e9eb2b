/**
 * `npm run bench:renderer`: the renderer's production JavaScript (gzip) and its time to
 * interactive in Debian's Chromium, through the web shell and the real engine. Printed, never
 * asserted (bench/README.md).
 *
 * Time to interactive is navigation start → the `zflash:interactive` mark the app sets once
 * the first screen has its data (app info, settings, a flash in progress) and takes input;
 * `zflash:loaded` follows when what later steps need is in too (the drive scan, ~/.ssh, the
 * suggested name, the last image re-inspected). Baseline in the same run and browser: a page with one line of text from a
 * plain local HTTP server, navigation start → load. Each run uses a fresh browser context
 * (no cache), interleaved with the baseline.
 */
import { chromium } from '@playwright/test';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ratio, repoRoot, stats } from './common.js';

const RUNS = 9;
const TARGET_GZIP = 250 * 1000;
const TARGET_TTI_MS = 500;

const root = repoRoot();
const assets = join(root, 'dist', 'renderer', 'assets');

interface PageTimes {
  domContentLoaded: number;
  firstContentfulPaint: number;
  interactive: number;
  loaded: number;
}

/** What a page measured of itself, read in the page. */
interface PageGlobals {
  performance: {
    getEntriesByName(name: string): { startTime: number }[];
    getEntriesByType(type: string): { domContentLoadedEventEnd?: number; loadEventEnd?: number }[];
  };
}

function sizes(): { js: number; jsGzip: number; css: number; cssGzip: number } {
  let js = 0;
  let jsGzip = 0;
  let css = 0;
  let cssGzip = 0;
  for (const f of readdirSync(assets)) {
    const body = readFileSync(join(assets, f));
    const gz = gzipSync(body, { level: 9 }).length;
    if (f.endsWith('.js')) {
      js += body.length;
      jsGzip += gz;
    } else if (f.endsWith('.css')) {
      css += body.length;
      cssGzip += gz;
    }
  }
  return { js, jsGzip, css, cssGzip };
}

async function startShell(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const home = join(dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  const child = spawn(
    process.execPath,
    [join(root, 'dist', 'e2e', 'web-shell', 'cli.js'), '--user-data', join(dir, 'data')],
    { env: { ...process.env, HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /open (http:\/\/127\.0\.0\.1:\d+\/#token=[0-9a-f]+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then(() => reject(new Error(`the web shell exited:\n${out}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const size = sizes();
  const dir = mkdtempSync(join(tmpdir(), 'zflash-bench-renderer-'));
  const baseline = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>baseline</title><p>Zeta Flash</p>');
  });
  await new Promise<void>((resolve) => baseline.listen(0, '127.0.0.1', () => resolve()));
  const address = baseline.address();
  const baselineUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
  const shell = await startShell(dir);
  const browser = await chromium.launch({
    executablePath: process.env['ZFLASH_CHROMIUM'] ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  const ours: PageTimes[] = [];
  const base: number[] = [];
  try {
    for (let i = 0; i < RUNS + 1; i++) {
      const context = await browser.newContext({ viewport: { width: 1120, height: 780 } });
      const page = await context.newPage();
      await page.goto(shell.url);
      await page.waitForSelector('html[data-loaded="true"]');
      const t = await page.evaluate((): PageTimes => {
        const perf = (globalThis as unknown as PageGlobals).performance;
        const nav = perf.getEntriesByType('navigation')[0];
        return {
          domContentLoaded: nav?.domContentLoadedEventEnd ?? NaN,
          firstContentfulPaint:
            perf.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
          interactive: perf.getEntriesByName('zflash:interactive')[0]?.startTime ?? NaN,
          loaded: perf.getEntriesByName('zflash:loaded')[0]?.startTime ?? NaN,
        };
      });
      await context.close();
      const bctx = await browser.newContext();
      const bpage = await bctx.newPage();
      await bpage.goto(baselineUrl, { waitUntil: 'load' });
      const b = await bpage.evaluate(
        () =>
          (globalThis as unknown as PageGlobals).performance.getEntriesByType('navigation')[0]
            ?.loadEventEnd ?? NaN,
      );
      await bctx.close();
      // The first round warms the browser and the engine up; it is not counted.
      if (i > 0) {
        ours.push(t);
        base.push(b);
      }
    }
  } finally {
    await browser.close();
    await shell.stop();
    baseline.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const kb = (n: number) => `${(n / 1000).toFixed(1)} kB`;
  const ms = (n: number) => `${n.toFixed(0)} ms`;
  const row = (label: string, xs: number[], against?: number) => {
    const s = stats(xs);
    const r = against === undefined ? '' : `  ${ratio(s.median, against)}`;
    console.log(
      `${label.padEnd(58)}${ms(s.median).padStart(8)}${ms(s.p90).padStart(8)}${String(s.runs).padStart(4)}${r}`,
    );
    return s;
  };
  console.log('renderer production bundle (dist/renderer/assets)');
  console.log(`  JavaScript ${kb(size.js)}, gzip -9 ${kb(size.jsGzip)}`);
  console.log(`  CSS        ${kb(size.css)}, gzip -9 ${kb(size.cssGzip)}`);
  console.log('');
  console.log(`time in Chromium, fresh context per run (ratio = row / baseline in the same run)`);
  console.log(`${''.padEnd(58)}  median     p90   N`);
  const b = row('baseline: one-line page from a local server, → load', base);
  row(
    'zflash web shell: → DOMContentLoaded',
    ours.map((t) => t.domContentLoaded),
    b.median,
  );
  row(
    'zflash web shell: → first contentful paint',
    ours.map((t) => t.firstContentfulPaint),
    b.median,
  );
  const tti = row(
    'zflash web shell: → interactive (first screen has its data)',
    ours.map((t) => t.interactive),
    b.median,
  );
  row(
    'zflash web shell: → all loaded (drives scanned, keys, name)',
    ours.map((t) => t.loaded),
    b.median,
  );
  console.log('');
  console.log(
    `target: JavaScript < 250 kB gzip: ${size.jsGzip < TARGET_GZIP ? 'met' : 'NOT MET'} (${kb(size.jsGzip)})`,
  );
  console.log(
    `target: time to interactive < 500 ms: ${tti.median < TARGET_TTI_MS ? 'met' : 'NOT MET'} (median ${ms(tti.median)})`,
  );
}

await main();
