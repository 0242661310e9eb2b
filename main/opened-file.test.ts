import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenedFile, openedFileFromArgv } from './opened-file.js';

describe('openedFileFromArgv, Linux-style argv over real files', () => {
  let dir: string;
  let iso: string;
  let zst: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'zflash-opened-'));
    iso = join(dir, 'zeta installer.iso');
    zst = join(dir, 'nixos.img.zst');
    writeFileSync(iso, 'iso');
    writeFileSync(zst, 'zst');
    mkdirSync(join(dir, 'images.iso'));
    symlinkSync(iso, join(dir, 'link.iso'));
    symlinkSync(join(dir, 'gone.iso'), join(dir, 'dangling.iso'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const packaged = () => ({ platform: 'linux', isPackaged: true, cwd: dir });
  const dev = () => ({ platform: 'linux', isPackaged: false, cwd: '/work/app' });

  it('packaged: the first argument after the executable', () => {
    expect(openedFileFromArgv(['/opt/Zeta Flash/zeta-flash', iso], packaged())).toBe(iso);
    expect(openedFileFromArgv(['/opt/Zeta Flash/zeta-flash'], packaged())).toBeNull();
  });

  it('packaged: a relative path is made absolute against the launch folder', () => {
    expect(openedFileFromArgv(['/opt/Zeta Flash/zeta-flash', 'nixos.img.zst'], packaged())).toBe(
      zst,
    );
  });

  it('packaged: switches (ours, Chromium’s, a lone --) are passed over', () => {
    const argv = [
      '/tmp/.mount_zeta/zeta-flash',
      '--no-sandbox',
      '--enable-features=UseOzonePlatform',
      '--',
      iso,
    ];
    expect(openedFileFromArgv(argv, packaged())).toBe(iso);
    expect(openedFileFromArgv(['/x/zeta-flash', `--foo=${iso}`], packaged())).toBeNull();
  });

  it('packaged: a file:// URI from a desktop entry (Exec=… %U) is the file', () => {
    expect(openedFileFromArgv(['/x/zeta-flash', pathToFileURL(iso).href], packaged())).toBe(iso);
    expect(openedFileFromArgv(['/x/zeta-flash', 'file://host/share/x.iso'], packaged())).toBeNull();
  });

  it('missing files, folders and dangling links are not images; a link to a file is', () => {
    for (const arg of ['gone.iso', join(dir, 'images.iso'), join(dir, 'dangling.iso'), dir])
      expect(openedFileFromArgv(['/x/zeta-flash', arg], packaged())).toBeNull();
    expect(openedFileFromArgv(['/x/zeta-flash', join(dir, 'link.iso')], packaged())).toBe(
      join(dir, 'link.iso'),
    );
    // The first usable one wins; what cannot be used before it is passed over.
    expect(openedFileFromArgv(['/x/zeta-flash', 'gone.iso', dir, zst, iso], packaged())).toBe(zst);
  });

  it('`electron .` in development: the app path is not the image, what follows it is', () => {
    expect(openedFileFromArgv(['/repo/node_modules/electron/dist/electron', '.'], dev())).toBe(
      null,
    );
    expect(
      openedFileFromArgv(
        ['/repo/node_modules/electron/dist/electron', '--inspect=9229', '.', '--trace', iso],
        dev(),
      ),
    ).toBe(iso);
    // An app path that is a file (electron dist/main/main.js) is still the app, not an image.
    expect(openedFileFromArgv(['/x/electron', iso], dev())).toBeNull();
    expect(openedFileFromArgv(['/x/electron', iso, zst], dev())).toBe(zst);
    expect(openedFileFromArgv(['/x/electron'], dev())).toBeNull();
  });
});

describe('openedFileFromArgv, Windows-style argv', () => {
  const files = new Set(['C:\\Users\\op\\Downloads\\zeta-installer.iso', 'D:\\images\\n.img']);
  const ctx = (isPackaged: boolean) => ({
    platform: 'win32',
    isPackaged,
    cwd: 'C:\\Users\\op\\Downloads',
    isFile: (p: string) => files.has(p),
  });
  const exe = 'C:\\Program Files\\Zeta Flash\\Zeta Flash.exe';

  it('packaged: the double-clicked file ("…exe" "%1")', () => {
    expect(
      openedFileFromArgv([exe, 'C:\\Users\\op\\Downloads\\zeta-installer.iso'], ctx(true)),
    ).toBe('C:\\Users\\op\\Downloads\\zeta-installer.iso');
    expect(openedFileFromArgv([exe], ctx(true))).toBeNull();
  });

  it('packaged: a second instance’s argv with the switches Chromium adds', () => {
    const argv = [
      exe,
      '--allow-file-access-from-files',
      '--original-process-start-time=13378470201813581',
      'D:/images/n.img',
    ];
    expect(openedFileFromArgv(argv, ctx(true))).toBe('D:\\images\\n.img');
  });

  it('relative to the launch folder, with Windows rules; missing files and folders are passed over', () => {
    expect(openedFileFromArgv([exe, 'zeta-installer.iso'], ctx(true))).toBe(
      'C:\\Users\\op\\Downloads\\zeta-installer.iso',
    );
    expect(openedFileFromArgv([exe, 'C:\\Users\\op\\Downloads'], ctx(true))).toBeNull();
    expect(openedFileFromArgv([exe, 'C:\\nowhere\\x.iso'], ctx(true))).toBeNull();
  });

  it('not packaged: electron.exe . <file>', () => {
    const electron = 'C:\\repo\\node_modules\\electron\\dist\\electron.exe';
    expect(openedFileFromArgv([electron, '.', 'D:\\images\\n.img'], ctx(false))).toBe(
      'D:\\images\\n.img',
    );
    expect(openedFileFromArgv([electron, 'D:\\images\\n.img'], ctx(false))).toBeNull();
  });
});

describe('OpenedFile', () => {
  it('keeps the latest file until it is taken, once', () => {
    const box = new OpenedFile('/a.iso');
    box.remember('/b.iso');
    expect(box.take()).toBe('/b.iso');
    expect(box.take()).toBeNull();
    expect(new OpenedFile().take()).toBeNull();
  });
});
