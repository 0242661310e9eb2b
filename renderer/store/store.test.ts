// The store driven the way the screens drive it, over the in-memory fake of window.zflash
// (renderer/dev/fake-api.ts) with flashes moved on by hand. What is checked is the wizard's
// logic: what is picked by itself, what is sent, what "Flash next node" keeps.
import { pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createFakeApi, rosterNode, SAMPLE_DRIVES, stick } from '../dev/fake-api.js';
import { createAppStore } from './store.js';
import {
  selectDriveReady,
  selectFieldProblem,
  selectManyProblem,
  selectNodeReady,
} from './selectors.js';

async function started(opts: Parameters<typeof createFakeApi>[0] = {}) {
  const fake = createFakeApi({ auto: false, ...opts });
  const store = createAppStore(fake.api);
  await store.getState().start(new AbortController().signal);
  return { ...fake, store, s: () => store.getState() };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 0));
  expect(check()).toBe(true);
};

describe('the wizard store', () => {
  it('starts with a suggested name, the only ~/.ssh key chosen and the only ready stick picked', async () => {
    const { s } = await started();
    expect(s().node.hostname).toBe('node-01');
    expect(s().keys.chosen.map((k) => k.comment)).toEqual(['op@laptop']);
    // /dev/nvme0n1 is refused, /dev/sdc only warned: /dev/sdb is the one.
    expect(s().drives.selected).toBe('/dev/sdb');
    expect(s().shell.boot).toBe('ready');
  });

  it('with two ready sticks, none is picked; a refused drive cannot be picked at all', async () => {
    const { s } = await started({
      drives: [...SAMPLE_DRIVES, stick('/dev/sdd', 'Kingston DataTraveler', 32e9)],
    });
    expect(s().drives.selected).toBeNull();
    s().selectDrive('/dev/nvme0n1');
    expect(s().drives.selected).toBeNull();
    s().selectDrive('/dev/sdd');
    expect(s().drives.selected).toBe('/dev/sdd');
  });

  it('a drive with a warning is usable only once acknowledged', async () => {
    const { s } = await started();
    s().selectDrive('/dev/sdc');
    expect(selectDriveReady(s())).toBe(false);
    s().acknowledge('/dev/sdc', true);
    expect(selectDriveReady(s())).toBe(true);
  });

  it('a dropped private key is refused without one call to main', async () => {
    const { s, control } = await started();
    const before = control.calls.length;
    await s().dropKeyFile(
      new File(['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n'], 'id_ed25519'),
    );
    expect(s().keys.refusal).toMatch(/This is a private key — it never leaves this computer/);
    expect(control.calls.length).toBe(before);
  });

  it('sends the Wi-Fi PSK, never the passphrase', async () => {
    const { s, control } = await started();
    await s().useImage('/images/zeta.iso');
    s().setWifi({ on: true, ssid: 'lab', passphrase: 'unique-passphrase-42' });
    expect(await s().submitNode()).toBe(true);
    await s().prepare();
    expect(s().shell.step.kind).toBe('review');
    const sent = JSON.stringify(control.calls);
    expect(sent).toContain(
      pbkdf2Sync('unique-passphrase-42', 'lab', 4096, 32, 'sha1').toString('hex'),
    );
    expect(sent).not.toContain('unique-passphrase-42');
  });

  it('Flash next node keeps image and keys, names node-02 and picks the stick plugged in next', async () => {
    const { s, control } = await started();
    await s().useImage('/images/zeta.iso');
    await s().prepare();
    await s().startFlash();
    expect(s().shell.step).toEqual({ kind: 'flashing', device: '/dev/sdb', hostname: 'node-01' });
    control.progress('/dev/sdb', 'writing', 50);
    control.finish('/dev/sdb', 'done');
    await until(() => s().shell.step.kind === 'done');

    // Another ready stick was already there before the click: picked for now...
    control.plug(stick('/dev/sdd', 'Old stick', 16e9));
    await s().flashNext();
    expect(s().node.hostname).toBe('node-02');
    expect(s().image.path).toBe('/images/zeta.iso');
    expect(s().keys.chosen).toHaveLength(1);
    expect(s().shell.step.kind).toBe('drive');
    expect(s().drives.selected).toBe('/dev/sdd');
    // ...until the next stick is plugged in after it: that one is meant.
    control.plug(stick('/dev/sde', 'Next stick', 32e9));
    expect(s().drives.selected).toBe('/dev/sde');
    // The stick flashed a moment ago is never picked by itself again.
    control.unplug('/dev/sde');
    control.unplug('/dev/sdd');
    expect(s().drives.selected).toBeNull();
  });

  it('a failed flash opens diagnostics for that stick, which is not picked again', async () => {
    const { s, control } = await started();
    await s().useImage('/images/zeta.iso');
    await s().prepare();
    await s().startFlash();
    control.progress('/dev/sdb', 'writing', 10);
    control.finish('/dev/sdb', {
      code: 'ZFLASH_FAKE_CAPACITY',
      kind: 'io',
      message: 'The stick holds less than it claims.',
      hint: 'Use another stick.',
      exitCode: 4,
    });
    await until(() => s().diagnostics.view !== null);
    expect(s().shell.screen).toMatchObject({
      kind: 'diagnostics',
      device: '/dev/sdb',
      error: { code: 'ZFLASH_FAKE_CAPACITY' },
    });
    expect(control.calls.at(-1)).toMatchObject({
      method: 'diagnostics',
      request: { device: '/dev/sdb', image: '/images/zeta.iso' },
    });
    s().closeDiagnostics();
    expect(s().shell.step.kind).toBe('drive');
    expect(s().drives.selected).toBeNull();
  });

  it('a cancelled flash goes back to the stick step and says the stick is unfinished', async () => {
    const { s, control } = await started();
    await s().useImage('/images/zeta.iso');
    await s().prepare();
    await s().startFlash();
    control.progress('/dev/sdb', 'writing', 10);
    await s().cancelFlash();
    await until(() => s().shell.step.kind === 'drive');
    expect(s().flash.message).toMatch(/was not finished: flash it again/);
    expect(s().shell.screen.kind).toBe('wizard');
  });

  it('a window opened during a flash goes back to watching it', async () => {
    const fake = createFakeApi({ auto: false });
    const first = createAppStore(fake.api);
    await first.getState().start(new AbortController().signal);
    await first.getState().useImage('/images/zeta.iso');
    await first.getState().prepare();
    await first.getState().startFlash();
    fake.control.progress('/dev/sdb', 'writing', 30);

    const reloaded = createAppStore(fake.api);
    await reloaded.getState().start(new AbortController().signal);
    expect(reloaded.getState().shell.step).toEqual({
      kind: 'flashing',
      device: '/dev/sdb',
      hostname: 'node-01',
    });
  });

  it('starts with the file the OS opened the app with, inspected, over the remembered image', async () => {
    const { s, control } = await started({
      openedFile: '/home/op/Downloads/zeta-installer.iso',
      settings: { lastImage: '/images/last-time.iso' },
    });
    await until(() => s().image.info !== null);
    expect(s().shell.step).toEqual({ kind: 'image' });
    expect(s().image.path).toBe('/home/op/Downloads/zeta-installer.iso');
    expect(s().image.info?.path).toBe('/home/op/Downloads/zeta-installer.iso');
    // Asked once, after every event was subscribed; the same inspection as a pick.
    expect(control.calls.filter((c) => c.method === 'takeOpenedFile')).toHaveLength(1);
    expect(control.calls.filter((c) => c.method === 'inspectImage')).toEqual([
      { method: 'inspectImage', request: { path: '/home/op/Downloads/zeta-installer.iso' } },
    ]);
  });

  it('a file opened later replaces the image; on a review it goes back to the image step', async () => {
    const { s, control } = await started();
    await s().useImage('/images/zeta.iso');
    await s().prepare();
    expect(s().shell.step.kind).toBe('review');
    control.openFile('/images/other-zeta.iso');
    await until(() => s().image.info?.path === '/images/other-zeta.iso');
    expect(s().shell.step).toEqual({ kind: 'image' });
    // Taken once: a second window asking now gets nothing.
    expect(await s().api.takeOpenedFile()).toEqual({ ok: true, value: null });
  });

  it('a file opened during a flash changes nothing and says so', async () => {
    const { s, control } = await started();
    await s().useImage('/images/zeta.iso');
    await s().prepare();
    await s().startFlash();
    control.progress('/dev/sdb', 'writing', 20);
    const before = control.calls.length;
    control.openFile('/images/other-zeta.iso');
    await until(() => s().shell.notices.some((n) => n.code === 'OPENED_DURING_FLASH'));
    expect(s().shell.notices.at(-1)?.message).toMatch(
      /^other-zeta\.iso was not opened: a stick is being written/,
    );
    expect(s().image.path).toBe('/images/zeta.iso');
    expect(s().shell.step.kind).toBe('flashing');
    expect(control.calls.slice(before).map((c) => c.method)).toEqual(['takeOpenedFile']);
  });

  it('remembers the keys for the next window, as public lines only', async () => {
    const { s, control } = await started();
    expect(control.settings.keyLines).toHaveLength(1);
    expect(control.settings.keyLines[0]).toMatch(/^ssh-ed25519 /);
    s().removeKey(s().keys.chosen[0]?.fingerprint ?? '');
    await until(() => control.settings.keyLines.length === 0);
  });
});

describe('the cluster and the installer download', () => {
  it('a name the roster has is refused in the form; re-flashing that node allows it, erase on', async () => {
    const { s, control } = await started({ roster: [rosterNode('node-01', { roles: ['gpu'] })] });
    expect(s().node.hostname).toBe('node-02');
    s().setHostname('node-01');
    expect(selectFieldProblem(s(), 'hostname')).toMatch(/node-01 is already in your cluster/);
    expect(selectNodeReady(s())).toBe(false);

    await s().useImage('/images/zeta.iso');
    s().openCluster();
    await s().reflashNode('node-01');
    expect(s().shell.step.kind).toBe('drive');
    expect(s().node).toMatchObject({
      hostname: 'node-01',
      roles: ['gpu'],
      eraseAny: true,
      reflash: true,
    });
    expect(selectFieldProblem(s(), 'hostname')).toBeNull();
    await s().prepare();
    expect(control.calls.at(-1)).toMatchObject({
      method: 'prepareFlash',
      request: { reflash: true, node: { hostname: 'node-01', eraseAny: true } },
    });
    await s().startFlash();
    control.finish('/dev/sdb', 'done');
    await until(() => s().shell.step.kind === 'done');
    // The next node is a new one again: its own name, erase only a blank disk.
    await s().flashNext();
    expect(s().node).toMatchObject({ hostname: 'node-02', reflash: false, eraseAny: false });
  });

  it('follows the roster as main pushes it: flashed, then seen online', async () => {
    const { s, control } = await started();
    await s().useImage('/images/zeta.iso');
    await s().prepare();
    await s().startFlash();
    control.finish('/dev/sdb', 'done');
    await until(() => s().cluster.view?.nodes.length === 1);
    expect(s().cluster.view?.nodes[0]).toMatchObject({ hostname: 'node-01', online: null });
    control.online('node-01', '192.168.1.21');
    expect(s().cluster.view?.nodes[0]).toMatchObject({
      status: 'online',
      online: { address: '192.168.1.21' },
    });
  });

  it('downloads the installer with progress, then inspects it as the image', async () => {
    const { s, control } = await started();
    await s().loadCatalog();
    expect(s().catalog.catalog?.images.map((i) => i.arch)).toEqual([
      'x86_64-linux',
      'aarch64-linux',
    ]);
    const done = s().downloadInstaller('x86_64-linux');
    await until(() => s().catalog.downloading === 'x86_64-linux');
    control.downloadProgress({ phase: 'download', bytes: 500, total: 1000, resumedFrom: 0 });
    expect(s().catalog.progress).toMatchObject({ bytes: 500, total: 1000 });
    control.finishDownload();
    await done;
    expect(s().catalog.downloading).toBeNull();
    expect(s().image.path).toBe('/home/op/.cache/zeta-flash/zeta-installer-0.2.0-x86_64-linux.iso');
    expect(s().image.info?.installer.kind).toBe('zeta');
  });

  it('a cancelled download says nothing more than the button coming back', async () => {
    const { s } = await started();
    await s().loadCatalog();
    const done = s().downloadInstaller('aarch64-linux');
    await until(() => s().catalog.downloading !== null);
    await s().cancelDownload();
    await done;
    expect(s().catalog).toMatchObject({ downloading: null, error: null });
    expect(s().image.path).toBeNull();
  });

  it('without a catalogue, the reason is kept to be shown quietly', async () => {
    const { s } = await started({ catalog: null });
    await s().loadCatalog();
    expect(s().catalog.catalog).toBeNull();
    expect(s().catalog.error?.code).toBe('ZFLASH_CATALOG_UNREACHABLE');
  });

  it('several sticks: the toggle ticks every ready stick, each gets its own name, a failed one ends alone', async () => {
    const { s, control } = await started({
      drives: [...SAMPLE_DRIVES, stick('/dev/sdd', 'Kingston DataTraveler', 32e9)],
    });
    await s().useImage('/images/zeta.iso');
    // The normal case stays one stick; the toggle ticks the ready ones (not the warned /dev/sdc).
    expect(s().drives.multi).toBe(false);
    s().setMulti(true);
    expect(s().drives.chosen).toEqual(['/dev/sdb', '/dev/sdd']);
    expect(selectDriveReady(s())).toBe(true);
    s().chooseDrive('/dev/sdc', true);
    expect(selectManyProblem(s())).toMatch(/warning for \/dev\/sdc/);
    s().chooseDrive('/dev/sdc', false);
    s().chooseDrive('/dev/nvme0n1', true);
    expect(s().drives.chosen).toEqual(['/dev/sdb', '/dev/sdd']);
    await s().prepare();
    const step = s().shell.step;
    if (step.kind !== 'review-many') throw new Error(`review-many expected, got ${step.kind}`);
    expect(step.plan.drives.map((d) => [d.device, d.hostname])).toEqual([
      ['/dev/sdb', 'node-01'],
      ['/dev/sdd', 'node-02'],
    ]);
    await s().startFlash();
    expect(s().shell.step).toEqual({
      kind: 'flashing-many',
      sticks: [
        { device: '/dev/sdb', hostname: 'node-01' },
        { device: '/dev/sdd', hostname: 'node-02' },
      ],
    });
    control.progress('/dev/sdb', 'writing', 40);
    control.progress('/dev/sdd', 'writing', 20);
    control.finish('/dev/sdd', {
      code: 'ZFLASH_WRITE_FAILED',
      kind: 'io',
      message: 'The stick stopped taking writes.',
      hint: 'Try another stick.',
      exitCode: 4,
    });
    // The failed stick does not take the window away: the other one is still being written.
    expect(s().shell.step.kind).toBe('flashing-many');
    expect(s().shell.screen.kind).toBe('wizard');
    control.finish('/dev/sdb', 'done');
    await until(() => s().shell.step.kind === 'done-many');
    expect(s().flash.flashed).toEqual([{ device: '/dev/sdb', hostname: 'node-01' }]);
    // Next: several stays on; a stick plugged in now is ticked, the used ones are not.
    await s().flashNext();
    expect(s().shell.step.kind).toBe('drive');
    expect(s().drives.multi).toBe(true);
    expect(s().drives.chosen).toEqual([]);
    control.plug(stick('/dev/sde', 'Next stick', 32e9));
    control.plug(stick('/dev/sdf', 'Next stick too', 32e9));
    expect(s().drives.chosen).toEqual(['/dev/sde', '/dev/sdf']);
    await s().prepare();
    const next = s().shell.step;
    if (next.kind !== 'review-many') throw new Error(`review-many expected, got ${next.kind}`);
    // node-01 is flashed; node-02 failed, so its name is free again.
    expect(next.plan.drives.map((d) => d.hostname)).toEqual(['node-02', 'node-03']);
  });

  it('several sticks: cancelling stops the whole run and goes back to the stick step', async () => {
    const { s, control } = await started({
      drives: [...SAMPLE_DRIVES, stick('/dev/sdd', 'Kingston DataTraveler', 32e9)],
    });
    await s().useImage('/images/zeta.iso');
    s().setMulti(true);
    await s().prepare();
    await s().startFlash();
    control.progress('/dev/sdb', 'writing', 10);
    control.progress('/dev/sdd', 'writing', 10);
    await s().cancelFlash();
    await until(() => s().shell.step.kind === 'drive');
    expect(s().flash.message).toMatch(/\/dev\/sdb, \/dev\/sdd were not finished/);
  });
});
