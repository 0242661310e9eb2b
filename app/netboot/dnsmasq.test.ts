// The dnsmasq configuration, judged by dnsmasq itself (`dnsmasq --test`), and its log lines as
// dnsmasq 2.90 prints them (recorded from a proxy-DHCP session with QEMU's iPXE).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dnsmasqArgs, dnsmasqConfig, parseDnsmasqLine } from './dnsmasq.js';

const DNSMASQ = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find((p) => existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'zflash-dnsmasq-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = dnsmasqConfig({
  interface: 'enp3s0',
  network: '192.168.1.0',
  netmask: '255.255.255.0',
  tftpRoot: join(dir, 'tftp'),
  biosLoader: 'undionly.kpxe',
  uefiLoader: 'snponly.efi',
});
const settings = config
  .split('\n')
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => l.split('=')[0]!);

describe('the dnsmasq configuration', () => {
  // Installed by .ci/run (dnsmasq-base); only a machine without it may skip.
  it.skipIf(!DNSMASQ && process.getuid?.() !== 0)('passes dnsmasq --test', () => {
    const file = join(dir, 'dnsmasq.conf');
    writeFileSync(file, config);
    const r = spawnSync(DNSMASQ ?? 'dnsmasq', ['--test', `--conf-file=${file}`], {
      encoding: 'utf8',
    });
    expect(r.error).toBeUndefined();
    expect(`${r.stdout}${r.stderr}`).toMatch(/syntax check OK/);
    expect(r.status).toBe(0);
    // And dnsmasq does refuse a broken one (the judge can say no).
    writeFileSync(file, `${config}dhcp-range=nonsense\n`);
    expect(spawnSync(DNSMASQ ?? 'dnsmasq', ['--test', `--conf-file=${file}`]).status).not.toBe(0);
  });

  it('names only the chosen interface and leaves loopback out', () => {
    expect(config.match(/^interface=.*$/gm)).toEqual(['interface=enp3s0']);
    expect(config).toMatch(/^bind-interfaces$/m);
    expect(config.match(/^except-interface=.*$/gm)).toEqual(['except-interface=lo']);
    expect(settings.filter((s) => /interface|listen-address/.test(s)).sort()).toEqual([
      'bind-interfaces',
      'except-interface',
      'interface',
    ]);
  });

  it('never hands out addresses: proxy DHCP only, no DNS, no leases', () => {
    const ranges = config.match(/^dhcp-range=.*$/gm) ?? [];
    expect(ranges).toEqual(['dhcp-range=192.168.1.0,proxy,255.255.255.0']);
    expect(config).toMatch(/^port=0$/m);
    for (const s of [
      'dhcp-host',
      'dhcp-option',
      'dhcp-boot',
      'dhcp-authoritative',
      'dhcp-hostsfile',
    ])
      expect(settings).not.toContain(s);
  });

  it('offers iPXE to firmware and our script to iPXE, BIOS and UEFI', () => {
    expect(config).toContain('pxe-service=tag:!ipxe,x86PC,"Zeta netboot: iPXE",undionly.kpxe');
    expect(config).toContain('pxe-service=tag:!ipxe,X86-64_EFI,"Zeta netboot: iPXE",snponly.efi');
    expect(config).toContain('pxe-service=tag:ipxe,x86PC,"Zeta netboot",boot.ipxe');
    expect(config).toContain(`tftp-root=${join(dir, 'tftp')}`);
  });

  it('refuses values that would add lines to the file', () => {
    const base = {
      interface: 'eth0',
      network: '10.0.0.0',
      netmask: '255.0.0.0',
      tftpRoot: '/tmp/t',
      biosLoader: null,
      uefiLoader: null,
    };
    expect(() =>
      dnsmasqConfig({ ...base, interface: 'eth0\ndhcp-range=1.2.3.4,1.2.3.9' }),
    ).toThrow();
    expect(() => dnsmasqConfig({ ...base, tftpRoot: '/tmp/a\nconf-file=/etc/x' })).toThrow();
    expect(() => dnsmasqConfig({ ...base, network: '10.0.0.0/8' })).toThrow();
  });

  it('runs in the foreground, logs to stderr, reads only our file and drops root', () => {
    expect(
      dnsmasqArgs({ confFile: '/run/x/dnsmasq.conf', user: 'dnsmasq', group: 'nogroup' }),
    ).toEqual([
      '--conf-file=/run/x/dnsmasq.conf',
      '--keep-in-foreground',
      '--log-facility=-',
      '--pid-file=',
      '--user=dnsmasq',
      '--group=nogroup',
    ]);
  });
});

describe("dnsmasq's log", () => {
  it('says which machine asked for what', () => {
    expect(parseDnsmasqLine('dnsmasq-dhcp[31096]: PXE(br0) 52:54:00:00:00:07 proxy')).toEqual({
      kind: 'dhcp',
      mac: '52:54:00:00:00:07',
    });
    expect(
      parseDnsmasqLine('dnsmasq-dhcp[31096]: 4001509919 PXE(br0) 52:54:00:00:00:07 proxy'),
    ).toEqual({ kind: 'dhcp', mac: '52:54:00:00:00:07' });
    expect(
      parseDnsmasqLine('dnsmasq-dhcp[31096]: 0 PXE(br0) 10.77.0.106 52:54:00:00:00:07 boot.ipxe'),
    ).toEqual({
      kind: 'boot-file',
      ip: '10.77.0.106',
      mac: '52:54:00:00:00:07',
      file: 'boot.ipxe',
    });
    expect(
      parseDnsmasqLine('dnsmasq-tftp[31096]: sent /tmp/x/tftp/undionly.kpxe to 10.77.0.106'),
    ).toEqual({
      kind: 'tftp-sent',
      file: '/tmp/x/tftp/undionly.kpxe',
      ip: '10.77.0.106',
    });
    expect(parseDnsmasqLine('dnsmasq-tftp[7084]: TFTP root is /tmp/x/tftp  ')).toEqual({
      kind: 'ready',
    });
    expect(parseDnsmasqLine('dnsmasq[7084]: started, version 2.90 DNS disabled')).toBeNull();
    expect(
      parseDnsmasqLine('dnsmasq-dhcp[1]: 123 vendor class: PXEClient:Arch:00000:UNDI:002001'),
    ).toBeNull();
    expect(parseDnsmasqLine('random text')).toBeNull();
  });
});
