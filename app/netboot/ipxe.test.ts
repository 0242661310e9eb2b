import { describe, expect, it } from 'vitest';
import { bootScript, nodeScript, parseNetbootIpxe, refusalScript } from './ipxe.js';

// As nixpkgs' netboot module writes it (nixos/modules/installer/netboot/netboot.nix).
const NIXOS = `#!ipxe
# Use the cmdline variable to allow the user to specify custom kernel params
# when chainloading this script from other iPXE scripts like netboot.xyz
kernel bzImage init=/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-nixos-25.05/init initrd=initrd console=ttyS0,115200n8 console=tty1 loglevel=4 \${cmdline}
initrd initrd
boot
`;

describe('netboot.ipxe', () => {
  it('keeps the kernel and every argument, init= first among them, without initrd= and ${cmdline}', () => {
    const r = parseNetbootIpxe(NIXOS);
    expect(r).toEqual({
      ok: true,
      kernel: {
        image: 'bzImage',
        args: [
          'init=/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-nixos-25.05/init',
          'console=ttyS0,115200n8',
          'console=tty1',
          'loglevel=4',
        ],
        initrds: ['initrd'],
      },
    });
  });

  it('refuses a script without init=, with two kernels, or with what iPXE would expand', () => {
    expect(parseNetbootIpxe(NIXOS.replace(/init=\S+ /, ''))).toMatchObject({ ok: false });
    expect(parseNetbootIpxe(`${NIXOS}kernel other\n`)).toMatchObject({ ok: false });
    expect(parseNetbootIpxe(NIXOS.replace('loglevel=4', 'x=${net0/ip}'))).toMatchObject({
      ok: false,
      problem: expect.stringContaining('x=${net0/ip}'),
    });
    expect(parseNetbootIpxe(NIXOS.replace('bzImage', '../../etc/passwd'))).toMatchObject({
      ok: false,
    });
    expect(parseNetbootIpxe('#!ipxe\nchain http://elsewhere/\n')).toMatchObject({ ok: false });
  });
});

describe('the scripts served', () => {
  const kernel = (parseNetbootIpxe(NIXOS) as { ok: true; kernel: never }).kernel;
  const base = 'http://10.0.0.2:8086/node/52-54-00-00-00-07';

  it("a roster node's: its kernel line, the NixOS initrd, then the identity initrd", () => {
    const s = nodeScript({ hostname: 'node-07', mac: '52:54:00:00:00:07', base, kernel });
    const lines = s.split('\n');
    expect(lines[0]).toBe('#!ipxe');
    const k = lines.find((l) => l.startsWith('kernel '))!;
    expect(k).toContain(
      `${base}/kernel init=/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-nixos-25.05/init `,
    );
    expect(k).toContain(' initrd=initrd initrd=zeta.cpio ');
    expect(k).toContain(' zeta.hostname=node-07 ');
    expect(k).toContain(`zeta.report=${base}/installer`);
    expect(k).not.toContain('${');
    expect(lines.filter((l) => l.startsWith('initrd '))).toEqual([
      `initrd --name initrd ${base}/initrd || goto failed`,
      `initrd --name zeta.cpio ${base}/identity || goto failed`,
    ]);
  });

  it('the refusal loads nothing and fits an 80-column console', () => {
    const s = refusalScript('52:54:00:00:00:99');
    expect(s).toContain('THIS MACHINE IS NOT IN THE ROSTER');
    expect(s).toContain('52:54:00:00:00:99');
    for (const line of s.split('\n')) {
      expect(line).not.toMatch(/^(kernel|initrd|imgfetch|module|chain|boot|imgexec|sanboot)\b/);
      expect(line.replace(/^echo /, '').length).toBeLessThan(80);
    }
  });

  it('the TFTP boot script chains to this server by the booting card', () => {
    expect(bootScript('http://10.0.0.2:8086')).toContain(
      'chain http://10.0.0.2:8086/node/${netX/mac:hexhyp}.ipxe',
    );
    expect(() => bootScript('http://x/"; shell')).toThrow();
  });
});
