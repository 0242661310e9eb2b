/**
 * What every step of the wizard is checked for, as a person would look at it: a screenshot in
 * light and dark (kept under e2e/artifacts/ as test artifacts), axe-core with no serious or
 * critical violation in either scheme, and 200 % zoom — the same layout width as half the
 * window — without a horizontal scrollbar (WCAG 1.4.10 reflow).
 */
import { AxeBuilder } from '@axe-core/playwright';
import { expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

export const VIEWPORT = { width: 1120, height: 780 } as const;

/**
 * The page's globals these callbacks use. Support files are type-checked with the Node-side
 * config (no DOM lib), and the callbacks run in the page, so they name what they touch here.
 */
interface PageGlobals {
  matchMedia(query: string): { matches: boolean };
  document: { documentElement: { scrollWidth: number; clientWidth: number } };
  addEventListener(
    type: string,
    listener: (e: { isTrusted: boolean }) => void,
    capture: boolean,
  ): void;
  zflashCount: { clicks: number; keys: number };
}

async function axe(page: Page, label: string): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
    );
  expect(bad, `axe on ${label}`).toEqual([]);
}

/** Screenshots, axe and reflow for the screen on display; `name` names the artifacts. */
export async function lookAt(page: Page, spec: string, name: string): Promise<void> {
  const dir = `${ARTIFACTS}${spec}/`;
  mkdirSync(dir, { recursive: true });
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await expect
      .poll(() =>
        page.evaluate(
          () =>
            (globalThis as unknown as PageGlobals).matchMedia('(prefers-color-scheme: dark)')
              .matches,
        ),
      )
      .toBe(scheme === 'dark');
    await page.screenshot({ path: `${dir}${name}-${scheme}.png`, fullPage: true });
    await axe(page, `${spec}/${name} (${scheme})`);
  }
  await page.emulateMedia({ colorScheme: 'light' });

  // 200 %: half the CSS width at twice the pixel density is what a zoomed window lays out.
  await page.setViewportSize({ width: VIEWPORT.width / 2, height: VIEWPORT.height / 2 });
  const overflow = await page.evaluate(() => {
    const root = (globalThis as unknown as PageGlobals).document.documentElement;
    return root.scrollWidth - root.clientWidth;
  });
  await page.screenshot({ path: `${dir}${name}-zoom200.png`, fullPage: true });
  await page.setViewportSize(VIEWPORT);
  expect(overflow, `${spec}/${name} at 200 % scrolls sideways`).toBeLessThanOrEqual(0);
}

/** Counts what the operator does from now on: trusted clicks and key presses in the page. */
export async function startCounting(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = globalThis as unknown as PageGlobals;
    w.zflashCount = { clicks: 0, keys: 0 };
    w.addEventListener('click', (e) => void (e.isTrusted && w.zflashCount.clicks++), true);
    w.addEventListener('keydown', (e) => void (e.isTrusted && w.zflashCount.keys++), true);
  });
}

export async function counted(page: Page): Promise<{ clicks: number; keys: number }> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).zflashCount);
}
