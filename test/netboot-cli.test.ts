// `zflash netboot serve` refusing bad input and failing cleanly: the built command, real
// dnsmasq; the failure cases that need a network run in a namespace this test creates.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dnsmasqLaunch } from '../app/cli/netboot-command.js';
import { recordFlash } from '../app/roster/store.js';
import { record } from '../app/roster/roster.fixtures.js';
import { run, tempDir, zflash, ZFLASH_BIN } from './fixtures.js';

const tmp = tempDir('zflash-netboot-cli-');
afterAll(() => tmp.cleanup());
const isRoot = process.getuid?.() === 0;
const key = join(tmp.path, 'id_ed25519');
run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ops@laptop', '-f', key]);

function artifacts(): string {
  const d = join(tmp.path, `result-${Math.random().toString(36).slice(2)}`);
  mkdirSync(d);
  const k = Buffer.alloc(4096);
  k.write('HdrS', 0x202, 'latin1');
  writeFileSync(join(d, 'bzImage'), k);
  writeFileSync(join(d, 'initrd'), 'initrd');
  writeFileSync(
    join(d, 'netboot.ipxe'),
    '#!ipxe\nkernel bzImage init=/nix/store/x-nixos-system/init ${cmdline}\ninitrd initrd\nboot\n',
  );
  return d;
}

const serve = (...args: string[]) =>
  zflash(['netboot', 'serve', ...args, '--roster', join(tmp.path, 'roster.json')]);

describe('zflash netboot serve refuses, with a code and a hint', () => {
  it('Wi-Fi or password options: only public material goes over the network', () => {
    const pass = join(tmp.path, 'pass');
    writeFileSync(pass, 'a long enough passphrase\n');
    for (const extra of [
      ['--wifi-ssid', 'lab', '--wifi-pass-file', pass],
      ['--password-file', pass],
    ]) {
      const r = serve(
        '--artifacts',
        artifacts(),
        '--interface',
        'lo',
        '--ssh-key',
        `${key}.pub`,
        ...extra,
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('only public material');
      expect(r.stderr).toContain('code: ZFLASH_USAGE');
    }
  });

  it('no key, a private key, a bad port, a missing folder or interface', () => {
    expect(serve('--artifacts', artifacts(), '--interface', 'lo').stderr).toContain(
      'ZFLASH_NO_KEYS',
    );
    expect(
      serve('--artifacts', artifacts(), '--interface', 'lo', '--ssh-key', key).stderr,
    ).toContain('ZFLASH_PRIVATE_KEY');
    expect(
      serve(
        '--artifacts',
        artifacts(),
        '--interface',
        'lo',
        '--ssh-key',
        `${key}.pub`,
        '--port',
        '80x',
      ).stderr,
    ).toContain('ZFLASH_USAGE');
    expect(serve('--interface', 'lo', '--ssh-key', `${key}.pub`).stderr).toContain(
      '--artifacts DIR',
    );
    const noIf = serve(
      '--artifacts',
      artifacts(),
      '--interface',
      'zfnope0',
      '--ssh-key',
      `${key}.pub`,
    );
    expect(noIf.code).toBe(2);
    expect(noIf.stderr).toContain('no network interface named zfnope0');
    expect(noIf.stderr).toContain('code: ZFLASH_NETBOOT_INTERFACE');
    const bad = serve(
      '--artifacts',
      artifacts(),
      '--interface',
      'eth0\nx',
      '--ssh-key',
      `${key}.pub`,
    );
    expect(bad.stderr).toContain('ZFLASH_NETBOOT_INTERFACE');
  });
});

describe('how dnsmasq is started', () => {
  it('as root: directly, dropping to an unprivileged account', () => {
    const l = dnsmasqLaunch({ PATH: '/usr/sbin:/usr/bin' }, true);
    expect(l.prefix).toEqual([]);
    expect(['dnsmasq', 'nobody']).toContain(l.user);
    expect(l.command).toMatch(/\/dnsmasq$/);
  });

  it('as a user: through pkexec, dropping to that same user (so zflash can stop it)', () => {
    const bin = join(tmp.path, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const n of ['pkexec', 'dnsmasq']) {
      writeFileSync(join(bin, n), '#!/bin/sh\n');
      chmodSync(join(bin, n), 0o755);
    }
    const l = dnsmasqLaunch({ PATH: bin }, false);
    expect(l).toMatchObject({ command: join(bin, 'dnsmasq'), prefix: [join(bin, 'pkexec')] });
    expect(l.user).toBe(run('id', ['-un']).trim());
  });
});

// A port dnsmasq cannot have: the error says so, and nothing is left behind.
describe.skipIf(!isRoot)('when dnsmasq cannot start', () => {
  const NS = `zfnbf-${process.pid}`;
  afterAll(() => spawnSync('ip', ['netns', 'del', NS]));

  it('ZFLASH_NETBOOT_DNSMASQ_FAILED with its own words; no process, port or folder left', async () => {
    for (const args of [
      ['netns', 'add', NS],
      ['-n', NS, 'link', 'set', 'lo', 'up'],
      ['-n', NS, 'link', 'add', 'br0', 'type', 'bridge'],
      ['-n', NS, 'addr', 'add', '10.232.0.2/24', 'dev', 'br0'],
      ['-n', NS, 'link', 'set', 'br0', 'up'],
    ])
      run('ip', args);
    await recordFlash(join(tmp.path, 'roster.json'), record('node-07'));
    // Something else holds the DHCP port, without sharing it.
    const blocker = spawn('ip', [
      'netns',
      'exec',
      NS,
      process.execPath,
      '-e',
      "const s=require('dgram').createSocket('udp4');s.bind(67,'0.0.0.0',()=>console.log('bound'));",
    ]);
    await new Promise<void>((res) => blocker.stdout!.once('data', () => res()));
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('zflash-netboot-'));
    const r = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        NS,
        process.execPath,
        ZFLASH_BIN,
        'netboot',
        'serve',
        '--artifacts',
        artifacts(),
        '--interface',
        'br0',
        '--ssh-key',
        `${key}.pub`,
        '--roster',
        join(tmp.path, 'roster.json'),
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    blocker.kill();
    expect(r.status, r.stderr).toBe(4);
    expect(r.stderr).toContain('code: ZFLASH_NETBOOT_DNSMASQ_FAILED');
    expect(r.stderr).toMatch(/dnsmasq did not start \(exit \d+\): .*(bind|in use)/);
    expect(r.stderr).toContain('Another DHCP or TFTP server');
    const after = readdirSync(tmpdir()).filter((f) => f.startsWith('zflash-netboot-'));
    expect(after).toEqual(before);
    const ss = run('ip', ['netns', 'exec', NS, 'ss', '-ulptnH']);
    expect(ss).not.toContain('dnsmasq');
    expect(ss).not.toMatch(/10\.232\.0\.2:\d+\s/);
    expect(existsSync(join(tmp.path, 'roster.json'))).toBe(true);
  }, 90_000);
});
