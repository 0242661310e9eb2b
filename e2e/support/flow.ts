/**
 * Steps the specs share: reaching a step of the wizard the way an operator would, and
 * dropping a file on the window the way a file manager does (a DataTransfer holding a File).
 */
import { expect, type Page } from '@playwright/test';

/** Opens the page and waits until everything the window loads at start is in. */
export async function open(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await expect(page.locator('html')).toHaveAttribute('data-loaded', 'true');
}

/** Image step → node step, with the image the shell's --pick-image answers. */
export async function chooseImage(page: Page): Promise<void> {
  await page.getByRole('button', { name: /^Choose (another )?image…$/ }).click();
  await expect(page.getByTestId('image-findings')).toBeVisible();
}

/** From the image step to the keys step with the suggested name. */
export async function toKeys(page: Page): Promise<void> {
  await chooseImage(page);
  await page.getByRole('button', { name: 'Next: name the node' }).click();
  await expect(page.getByLabel('Node name')).not.toHaveValue('');
  await page.getByRole('button', { name: 'Next: SSH keys' }).click();
  await expect(page.getByTestId('step-keys')).toBeVisible();
}

/** Answers the web shell's in-page path dialog (shown when no --pick-… answer was given). */
export async function answerPathDialog(
  page: Page,
  kind: 'image' | 'key' | 'save',
  path: string,
): Promise<void> {
  const dialog = page.locator(`dialog[data-zflash-dialog="${kind}"]`);
  await dialog.locator('input').fill(path);
  await dialog.locator('button[value="ok"]').click();
}

/** Drops a file with `bytes` named `name` on the window, as a file manager would. */
export async function dropFile(page: Page, name: string, bytes: Buffer): Promise<void> {
  // Runs in the page; named by hand because support files are checked without the DOM lib.
  type PageGlobals = {
    DataTransfer: new () => { items: { add(file: unknown): void } };
    File: new (parts: unknown[], name: string) => unknown;
  };
  const transfer = await page.evaluateHandle(
    ({ name, data }) => {
      const g = globalThis as unknown as PageGlobals;
      const dt = new g.DataTransfer();
      dt.items.add(new g.File([new Uint8Array(data)], name));
      return dt;
    },
    { name, data: [...bytes] },
  );
  for (const type of ['dragenter', 'dragover', 'drop'])
    await page.dispatchEvent('body', type, { dataTransfer: transfer });
  await transfer.dispose();
}
