import { describe, expect, it } from 'vitest';
import {
  assessDrive,
  isProtectedMount,
  isRemovableMediaMount,
  isVirtualDeviceName,
  sameDevice,
} from './policy.js';
import {
  ciMachine,
  externalUsbDisk2TB,
  linuxLaptop,
  linuxSecondInternalDisk,
  macos,
  readOnlySdCard,
  windows,
  windowsUsbSataAdapter,
} from '../../test/recorded-drives.fixtures.js';
import { assessDrives, normalizeDrive } from './scanner.js';
import type { AssessedDrive, DiskUse, DriveInfo, PolicyContext, RawDrive } from './types.js';

const GB = 1e9;

function ctx(over: Partial<PolicyContext> = {}): PolicyContext {
  return {
    source: 'procfs',
    imagePath: null,
    imageSize: null,
    appPaths: [],
    allowLoop: false,
    uses: [],
    ...over,
  };
}

const drivelistCtx = (over: Partial<PolicyContext> = {}): PolicyContext =>
  ctx({ source: 'drivelist', ...over });

function judge(raw: RawDrive, context: PolicyContext = ctx()) {
  const v = assessDrive(normalizeDrive(raw), context);
  return { status: v.status, codes: v.reasons.map((r) => r.code), reasons: v.reasons };
}

function byDevice(list: readonly AssessedDrive[], device: string): AssessedDrive {
  const found = list.find((a) => a.drive.device === device);
  if (!found) throw new Error(`${device} not in the scan`);
  return found;
}

function pick(list: readonly RawDrive[], device: string): RawDrive {
  const found = list.find((d) => d.device === device);
  if (!found) throw new Error(`${device} not in the fixture`);
  return found;
}

function loopDrive(over: Partial<DriveInfo> = {}): DriveInfo {
  return {
    device: '/dev/loop7',
    raw: '/dev/loop7',
    size: 64 * 1024 * 1024,
    description: 'Loop device (/tmp/x.img)',
    busType: 'LOOP',
    isUSB: null,
    isRemovable: false,
    isVirtual: false,
    isSystem: false,
    isReadOnly: false,
    mountpoints: [],
    isLoop: true,
    blockSize: 512,
    logicalBlockSize: 512,
    partitionTableType: null,
    ...over,
  };
}

describe('assessDrive on drivelist outputs recorded on this CI machine', () => {
  const vmUses: DiskUse[] = [{ kind: 'mount', disk: '/dev/vda', source: '/dev/vda', target: '/' }];

  it('refuses /dev/zram0 (listed as removable) as virtual with an unknown size', () => {
    const v = judge(pick(ciMachine, '/dev/zram0'), ctx({ uses: vmUses }));
    expect(v.status).toBe('refused');
    expect(v.codes).toEqual(['DRIVE_VIRTUAL', 'DRIVE_SIZE_UNKNOWN']);
  });

  it('refuses /dev/vda as the system drive, and says why in words', () => {
    const v = judge(pick(ciMachine, '/dev/vda'), ctx({ uses: vmUses }));
    expect(v.status).toBe('refused');
    expect(v.codes).toEqual(['DRIVE_SYSTEM']);
    expect(v.reasons[0]?.message).toBe('This computer runs from this drive: it holds /.');
  });

  it('refuses /dev/vda from drivelist mountpoints alone, without kernel facts', () => {
    expect(judge(pick(ciMachine, '/dev/vda'), drivelistCtx()).codes).toEqual(['DRIVE_SYSTEM']);
  });
});

describe('assessDrive on a Linux laptop (NVMe system disk + USB stick)', () => {
  const nvme = pick(linuxLaptop, '/dev/nvme0n1');
  const stick = pick(linuxLaptop, '/dev/sda');

  it('refuses the NVMe system disk, naming both system mounts', () => {
    const v = judge(nvme);
    expect(v.status).toBe('refused');
    expect(v.codes).toEqual(['DRIVE_SYSTEM']);
    expect(v.reasons[0]?.message).toContain('/boot/efi and /');
  });

  it('finds the system disk under LUKS/LVM from kernel facts when drivelist shows no mounts', () => {
    const bare: RawDrive = { ...nvme, mountpoints: [] };
    const uses: DiskUse[] = [
      { kind: 'mount', disk: '/dev/dm-0', source: '/dev/mapper/root', target: '/' },
      { kind: 'mount', disk: '/dev/nvme0n1p2', source: '/dev/mapper/root', target: '/' },
      { kind: 'mount', disk: '/dev/nvme0n1', source: '/dev/mapper/root', target: '/' },
    ];
    expect(judge(bare, ctx({ uses })).codes).toEqual(['DRIVE_SYSTEM']);
  });

  it('offers the USB stick', () => {
    expect(judge(stick)).toMatchObject({ status: 'eligible', codes: [] });
  });

  it('refuses the stick when the image is bigger than it', () => {
    const v = judge(stick, ctx({ imageSize: 20 * GB }));
    expect(v.codes).toEqual(['DRIVE_TOO_SMALL']);
    expect(v.reasons[0]?.message).toBe('This drive (15.7 GB) is smaller than the image (20.0 GB).');
  });

  it('says the sizes in bytes when the image is larger by less than the rounding shows', () => {
    const size = stick.size ?? 0;
    const v = judge(stick, ctx({ imageSize: size + 512 }));
    expect(v.codes).toEqual(['DRIVE_TOO_SMALL']);
    expect(v.reasons[0]?.message).toBe(
      `This drive (${size.toLocaleString('en-US')} bytes) is smaller than the image (${(size + 512).toLocaleString('en-US')} bytes).`,
    );
  });

  it('refuses the stick when it holds the image (from its mountpoint)', () => {
    const drives = linuxLaptop.map(normalizeDrive);
    const scan = assessDrives(
      drives,
      ctx({ imagePath: '/run/media/alice/STICK/nixos.iso', imageSize: 1.2 * GB }),
    );
    expect(byDevice(scan, '/dev/sda').verdict.reasons.map((r) => r.code)).toEqual([
      'DRIVE_HOLDS_IMAGE',
    ]);
    expect(byDevice(scan, '/dev/nvme0n1').verdict.reasons.map((r) => r.code)).toEqual([
      'DRIVE_SYSTEM',
    ]);
  });

  it('refuses a stick used as swap or holding the app', () => {
    const uses: DiskUse[] = [
      { kind: 'swap', disk: '/dev/sda', source: '/dev/sda2' },
      { kind: 'app', disk: '/dev/sda', path: '/run/media/alice/STICK/zflash.AppImage' },
    ];
    expect(judge(stick, ctx({ uses })).codes).toEqual(['DRIVE_SWAP', 'DRIVE_HOLDS_APP']);
  });
});

describe('assessDrive on drives drivelist misclassifies', () => {
  it('warns (does not hide) a USB-SATA adapter that reports isUSB=false, isRemovable=false', () => {
    const v = judge(windowsUsbSataAdapter, drivelistCtx());
    expect(v.status).toBe('warn');
    expect(v.codes).toEqual(['DRIVE_NOT_REMOVABLE']);
  });

  it('offers a macOS USB stick that reports itself "fixed"', () => {
    const v = judge(pick(macos, '/dev/disk4'), drivelistCtx());
    expect(v).toMatchObject({ status: 'eligible', codes: [] });
  });

  it('refuses the macOS boot disk and matches /dev/rdiskN to /dev/diskN', () => {
    expect(judge(pick(macos, '/dev/disk0'), drivelistCtx()).codes).toEqual(['DRIVE_SYSTEM']);
    const uses: DiskUse[] = [
      { kind: 'image', disk: '/dev/rdisk4', path: '/Volumes/KINGSTON/a.iso' },
    ];
    expect(judge(pick(macos, '/dev/disk4'), drivelistCtx({ uses })).codes).toEqual([
      'DRIVE_HOLDS_IMAGE',
    ]);
  });

  it('on Linux with kernel facts, a fixed disk nothing runs from is a warning, not hidden', () => {
    const v = judge(linuxSecondInternalDisk, ctx());
    expect(v.status).toBe('warn');
    expect(v.codes).toEqual(['DRIVE_NOT_REMOVABLE']);
    expect(v.reasons[0]?.message).toContain('fixed (internal)');
  });

  it("without kernel facts, drivelist's isSystem is obeyed", () => {
    const v = judge(linuxSecondInternalDisk, drivelistCtx());
    expect(v.status).toBe('refused');
    expect(v.codes).toEqual(['DRIVE_SYSTEM']);
    expect(v.reasons[0]?.message).toContain('operating system reports');
  });
});

describe('assessDrive on Windows', () => {
  it('refuses PhysicalDrive0 (C:) and offers the PhysicalDrive1 stick', () => {
    const scan = assessDrives(windows.map(normalizeDrive), drivelistCtx());
    expect(byDevice(scan, '\\\\.\\PhysicalDrive0').verdict).toMatchObject({ status: 'refused' });
    expect(byDevice(scan, '\\\\.\\PhysicalDrive0').verdict.reasons.map((r) => r.code)).toEqual([
      'DRIVE_SYSTEM',
    ]);
    expect(byDevice(scan, '\\\\.\\PhysicalDrive1').verdict).toEqual({
      status: 'eligible',
      reasons: [],
    });
  });

  it('finds the image on E: regardless of case and slashes', () => {
    const scan = assessDrives(
      windows.map(normalizeDrive),
      drivelistCtx({
        imagePath: 'e:\\Images\\nixos.iso',
        appPaths: ['C:\\Program Files\\Zeta Flash\\zflash.exe'],
      }),
    );
    expect(byDevice(scan, '\\\\.\\PhysicalDrive1').verdict.reasons.map((r) => r.code)).toEqual([
      'DRIVE_HOLDS_IMAGE',
    ]);
    expect(byDevice(scan, '\\\\.\\PhysicalDrive0').verdict.reasons.map((r) => r.code)).toEqual([
      'DRIVE_SYSTEM',
      'DRIVE_HOLDS_APP',
    ]);
  });
});

describe('assessDrive on size and media', () => {
  it('warns about a 2 TB external USB disk', () => {
    const v = judge(externalUsbDisk2TB);
    expect(v.status).toBe('warn');
    expect(v.codes).toEqual(['DRIVE_LARGE']);
    expect(v.reasons[0]?.message).toContain('2000.4 GB');
  });

  it('does not warn about a stick sold as 128 GB', () => {
    const stick = pick(linuxLaptop, '/dev/sda');
    expect(judge({ ...stick, size: 128_320_801_792 }).status).toBe('eligible');
  });

  it('refuses a read-only SD card, with the lock switch hint', () => {
    const v = judge(readOnlySdCard);
    expect(v.codes).toEqual(['DRIVE_READ_ONLY']);
    expect(v.reasons[0]?.message).toContain('lock switch');
  });

  it('refuses a drive of size zero', () => {
    expect(judge({ ...readOnlySdCard, isReadOnly: false, size: 0 }).codes).toEqual([
      'DRIVE_SIZE_UNKNOWN',
    ]);
  });

  it('drops warnings once a drive is refused', () => {
    expect(judge(externalUsbDisk2TB, ctx({ imageSize: 3 * 1e12 })).codes).toEqual([
      'DRIVE_TOO_SMALL',
    ]);
  });
});

describe('assessDrive on loop devices', () => {
  it('refuses loop devices unless ZFLASH_ALLOW_LOOP=1', () => {
    expect(assessDrive(loopDrive(), ctx()).reasons.map((r) => r.code)).toEqual([
      'DRIVE_LOOP_NOT_ALLOWED',
    ]);
  });

  it('offers an allowed loop device without the removable warning', () => {
    expect(assessDrive(loopDrive(), ctx({ allowLoop: true }))).toEqual({
      status: 'eligible',
      reasons: [],
    });
  });

  it('still refuses a loop device the system runs from', () => {
    const v = assessDrive(loopDrive({ mountpoints: ['/nix/store'] }), ctx({ allowLoop: true }));
    expect(v.reasons.map((r) => r.code)).toEqual(['DRIVE_SYSTEM']);
  });
});

describe('assessDrive on mounted filesystems', () => {
  const mount = (target: string, extra: Partial<{ udisks: boolean }> = {}): DiskUse => ({
    kind: 'mount',
    disk: '/dev/loop7',
    source: '/dev/loop7p1',
    target,
    ...extra,
  });
  const judgeMounts = (uses: DiskUse[], mountpoints: string[] = []) =>
    assessDrive(loopDrive({ mountpoints }), ctx({ allowLoop: true, uses }));

  it('refuses a drive with a data filesystem mounted, naming the mount point', () => {
    const v = judgeMounts([mount('/var/lib/postgres')]);
    expect(v.status).toBe('refused');
    expect(v.reasons.map((r) => r.code)).toEqual(['DRIVE_MOUNTED']);
    expect(v.reasons[0]?.message).toContain('/var/lib/postgres');
  });

  it('offers a stick mounted where removable media go (it is unmounted before writing)', () => {
    for (const m of ['/media/alice/STICK', '/run/media/alice/NIXOS_ISO', '/media/usb0']) {
      expect(judgeMounts([mount(m)]), m).toEqual({ status: 'eligible', reasons: [] });
    }
  });

  it('offers one udisks mounted somewhere else (utab says uhelper=udisks2)', () => {
    expect(judgeMounts([mount('/mnt/auto/STICK', { udisks: true })])).toEqual({
      status: 'eligible',
      reasons: [],
    });
    expect(judgeMounts([mount('/mnt/auto/STICK')]).reasons.map((r) => r.code)).toEqual([
      'DRIVE_MOUNTED',
    ]);
  });

  it('judges drivelist mountpoints the same way (macOS, Windows)', () => {
    expect(judgeMounts([], ['/srv/backup']).reasons.map((r) => r.code)).toEqual(['DRIVE_MOUNTED']);
    expect(judgeMounts([], ['/Volumes/KINGSTON']).status).toBe('eligible');
    expect(judgeMounts([], ['E:\\']).status).toBe('eligible');
  });

  it('calls a system mount a system mount, not merely "mounted"', () => {
    const v = judgeMounts([mount('/home'), mount('/srv/data')]);
    expect(v.reasons.map((r) => r.code)).toEqual(['DRIVE_SYSTEM', 'DRIVE_MOUNTED']);
    expect(v.reasons[1]?.message).toContain('/srv/data');
    expect(v.reasons[1]?.message).not.toContain('/home');
  });

  it('refuses a loop device whose backing file is the image, in words of its own', () => {
    const v = assessDrive(
      loopDrive(),
      ctx({
        allowLoop: true,
        uses: [{ kind: 'image', disk: '/dev/loop7', path: '/tmp/x.img', via: 'backing-file' }],
      }),
    );
    expect(v.reasons.map((r) => r.code)).toEqual(['DRIVE_HOLDS_IMAGE']);
    expect(v.reasons[0]?.message).toBe(
      'This loop device is backed by the image you are writing (/tmp/x.img): writing it would overwrite the image.',
    );
  });
});

describe('policy helpers', () => {
  it('knows where removable media are mounted, and nothing else', () => {
    for (const p of [
      '/media/alice/STICK',
      '/media/usb',
      '/run/media/alice/STICK',
      '/Volumes/KINGSTON',
      'E:\\',
      'f:',
    ]) {
      expect(isRemovableMediaMount(p), p).toBe(true);
    }
    for (const p of [
      '/media',
      '/media/',
      '/run/media',
      '/mnt',
      '/mnt/usb',
      '/var/lib/docker',
      '/srv',
      '/',
      '/home/alice/media/x',
      '/media/../etc',
      'C:\\',
      '/Volumes',
    ]) {
      expect(isRemovableMediaMount(p), p).toBe(false);
    }
  });

  it('knows system mount points and nothing else', () => {
    for (const p of [
      '/',
      '/boot',
      '/boot/efi',
      '/boot/firmware',
      '/nix',
      '/nix/store',
      '/usr',
      '/var',
      '/home',
      'C:\\',
      '/iso',
    ]) {
      expect(isProtectedMount(p), p).toBe(true);
    }
    for (const p of [
      '/run/media/alice/STICK',
      '/media/usb',
      '/mnt',
      '/home/alice/mnt',
      'E:\\',
      '/Volumes/KINGSTON',
    ]) {
      expect(isProtectedMount(p), p).toBe(false);
    }
  });

  it('knows virtual device names', () => {
    for (const d of [
      '/dev/zram0',
      '/dev/ram0',
      '/dev/dm-3',
      '/dev/md127',
      '/dev/mapper/root',
      '/dev/nbd0',
    ]) {
      expect(isVirtualDeviceName(d), d).toBe(true);
    }
    for (const d of ['/dev/sda', '/dev/nvme0n1', '/dev/mmcblk0', '/dev/loop0', '/dev/disk4']) {
      expect(isVirtualDeviceName(d), d).toBe(false);
    }
  });

  it('compares device names the way each OS spells them', () => {
    expect(sameDevice('/dev/rdisk4', '/dev/disk4')).toBe(true);
    expect(sameDevice('\\\\.\\PHYSICALDRIVE1', '\\\\.\\PhysicalDrive1')).toBe(true);
    expect(sameDevice('/dev/sda', '/dev/sdb')).toBe(false);
  });
});

describe('every rule, at its edges', () => {
  it('every system mount point, with trailing slashes and inside the protected trees', () => {
    for (const p of [
      '/',
      '/boot',
      '/boot/',
      '/boot/efi',
      '/efi',
      '/nix',
      '/nix/store',
      '/usr',
      '/usr/',
      '/var',
      '/var//',
      '/home',
      '/System/Volumes/Data',
      '/System/Volumes/VM',
      '/System/Volumes/Preboot',
      '/System/Volumes/Update',
      '/private/var/vm',
      '/iso',
      '/cdrom',
      '/run/initramfs/live',
      '/run/archiso/bootmnt',
      '/run/live/medium',
      '/lib/live/mount/medium',
      '/nix/var/nix/db',
      '/usr/local',
      'c:',
      'C:\\',
    ]) {
      expect(isProtectedMount(p), p).toBe(true);
    }
    for (const p of ['/bootx', '/nixos', '/usrx', 'D:\\', 'xc:\\', 'c:\\x', '/varx', '/homes']) {
      expect(isProtectedMount(p), p).toBe(false);
    }
  });

  it('removable places: drive letters but C:, whole names only, trailing slashes ignored', () => {
    for (const p of ['D:', 'd:\\', '/media/usb/', '/run/media/a/b//', '/Volumes/X/'])
      expect(isRemovableMediaMount(p), p).toBe(true);
    for (const p of [
      'c:',
      'C:',
      'D:\\x',
      'xD:',
      '/media//',
      '/media/./x',
      '/run/media/',
      '/Volumes/',
      '/mediax/y',
    ])
      expect(isRemovableMediaMount(p), p).toBe(false);
  });

  it('virtual devices: only the whole name, numbered', () => {
    for (const d of ['/dev/rbd1', '/dev/md/root', '/dev/md0'])
      expect(isVirtualDeviceName(d), d).toBe(true);
    for (const d of ['/dev/zram', '/dev/sdzram0', '/tmp/dev/zram0', '/dev/mapperx', '/x/dev/md/'])
      expect(isVirtualDeviceName(d), d).toBe(false);
    // drivelist's own flag counts too, and the name alone is enough.
    const flagged = assessDrive(
      loopDrive({ isLoop: false, isVirtual: true, device: '/dev/sdx' }),
      ctx(),
    );
    expect(flagged.reasons.map((r) => r.code)).toContain('DRIVE_VIRTUAL');
    const named = assessDrive(
      loopDrive({ isLoop: false, device: '/dev/dm-0', raw: '/dev/dm-0' }),
      ctx(),
    );
    expect(named.reasons.map((r) => r.code)).toContain('DRIVE_VIRTUAL');
    expect(named.reasons.find((r) => r.code === 'DRIVE_VIRTUAL')?.message).toBe(
      'This is a virtual device (memory, RAM disk or a volume built on other drives), not a stick.',
    );
  });

  it('device names: /dev/rdiskN is /dev/diskN, Windows names ignore case, others are exact', () => {
    expect(sameDevice('/dev/disk4', '/dev/rdisk4')).toBe(true);
    expect(sameDevice('/dev/rdisk4', '/dev/rdisk4')).toBe(true);
    expect(sameDevice('/dev/Sda', '/dev/sda')).toBe(false);
    expect(sameDevice('/x/dev/rdisk4', '/x/dev/disk4')).toBe(false);
    // A use recorded against the raw name counts as much as one against the device name.
    const raw = assessDrive(loopDrive({ raw: '/dev/rloop7' }), {
      ...ctx({ allowLoop: true }),
      uses: [{ kind: 'swap', disk: '/dev/rloop7', source: '/dev/rloop7p2' }],
    });
    expect(raw.reasons.map((r) => r.code)).toEqual(['DRIVE_SWAP']);
  });

  it('lists several places in words, each once', () => {
    const v = assessDrive(loopDrive(), {
      ...ctx({ allowLoop: true }),
      uses: [
        { kind: 'swap', disk: '/dev/loop7', source: '/dev/loop7p1' },
        { kind: 'swap', disk: '/dev/loop7', source: '/dev/loop7p2' },
        { kind: 'swap', disk: '/dev/loop7', source: '/dev/loop7p1' },
        { kind: 'swap', disk: '/dev/loop7', source: '/dev/loop7p3' },
      ],
    });
    expect(v.reasons[0]?.message).toBe(
      'This computer uses this drive as swap space (/dev/loop7p1, /dev/loop7p2 and /dev/loop7p3).',
    );
  });

  it('sizes: unknown, zero, exactly the image, one byte short, exactly 128 GiB', () => {
    const codes = (over: Partial<DriveInfo>, imageSize: number | null) =>
      assessDrive(loopDrive(over), ctx({ allowLoop: true, imageSize })).reasons.map((r) => r.code);
    expect(codes({ size: null }, 10)).toEqual(['DRIVE_SIZE_UNKNOWN']);
    expect(codes({ size: -1 }, 10)).toEqual(['DRIVE_SIZE_UNKNOWN']);
    expect(codes({ size: 1000 }, 1000)).toEqual([]);
    expect(codes({ size: 999 }, 1000)).toEqual(['DRIVE_TOO_SMALL']);
    expect(codes({ size: 1000 }, 0)).toEqual([]);
    expect(codes({ size: 1000 }, null)).toEqual([]);
    expect(codes({ size: 128 * 1024 ** 3 }, null)).toEqual([]);
    expect(codes({ size: 128 * 1024 ** 3 + 1 }, null)).toEqual(['DRIVE_LARGE']);
    const small = assessDrive(
      loopDrive({ size: 999_000_000 }),
      ctx({ allowLoop: true, imageSize: 2e9 }),
    );
    expect(small.reasons[0]?.message).toBe(
      'This drive (999.0 MB) is smaller than the image (2.0 GB).',
    );
    const unknown = assessDrive(loopDrive({ size: 0 }), ctx({ allowLoop: true }));
    expect(unknown.reasons[0]?.message).toBe(
      'The size of this drive is unknown or zero (no medium inserted?).',
    );
    const large = assessDrive(loopDrive({ size: 2e12 }), ctx({ allowLoop: true }));
    expect(large.reasons[0]?.message).toBe(
      'This drive is large (2000.0 GB) for an installer stick: make sure it is not a backup disk.',
    );
  });

  it('says each refusal in its own words', () => {
    const message = (over: Partial<DriveInfo>, c: Partial<PolicyContext> = {}) =>
      assessDrive(loopDrive(over), ctx({ allowLoop: true, ...c })).reasons.map((r) => r.message);
    expect(message({ isReadOnly: true })).toEqual([
      'This drive is read-only (for an SD card, check the lock switch on its side).',
    ]);
    expect(assessDrive(loopDrive(), ctx()).reasons[0]?.message).toBe(
      'Loop devices are offered only when ZFLASH_ALLOW_LOOP=1 is set (tests and VM workflows).',
    );
    expect(
      message({}, { uses: [{ kind: 'app', disk: '/dev/loop7', path: '/opt/zeta/app.asar' }] }),
    ).toEqual(['Zeta Flash itself runs from this drive (/opt/zeta/app.asar).']);
    expect(
      message({}, { uses: [{ kind: 'image', disk: '/dev/loop7', path: '/data/nixos.iso' }] }),
    ).toEqual(['The image you are writing is stored on this drive (/data/nixos.iso).']);
    const fixed = (isSystem: boolean) =>
      assessDrive(
        loopDrive({ isLoop: false, device: '/dev/sdb', raw: '/dev/sdb', isSystem }),
        ctx(),
      ).reasons.map((r) => r.message);
    expect(fixed(false)).toEqual([
      'This drive is neither USB nor removable (internal disk, or an adapter hiding its bus): check it is the one you mean.',
    ]);
    expect(fixed(true)).toEqual([
      'This drive reports itself as fixed (internal), though nothing this computer runs from is on it: check it is the stick you mean.',
    ]);
    expect(
      assessDrive(
        loopDrive({ isLoop: false, device: '/dev/sdb', raw: '/dev/sdb', isUSB: true }),
        ctx(),
      ).reasons,
    ).toEqual([]);
    expect(
      assessDrive(
        loopDrive({ isLoop: false, device: '/dev/sdb', raw: '/dev/sdb', isRemovable: true }),
        ctx(),
      ).reasons,
    ).toEqual([]);
    expect(
      assessDrive(
        loopDrive({ isLoop: false, device: '/dev/sdb', raw: '/dev/sdb', isSystem: true }),
        ctx({ source: 'drivelist' }),
      ).reasons.map((r) => r.message),
    ).toEqual(['The operating system reports this as a system (internal) drive.']);
  });
});

describe('removable places and warnings, exactly', () => {
  it('strips every trailing slash, keeps dots inside names, and sees .. even before a slash', () => {
    expect(isRemovableMediaMount('/media///')).toBe(false);
    expect(isRemovableMediaMount('/media/my.stick')).toBe(true);
    expect(isRemovableMediaMount('/run/media/alice/v1.2')).toBe(true);
    expect(isRemovableMediaMount('/media/x/../')).toBe(false);
    expect(isRemovableMediaMount('/media/./')).toBe(false);
  });

  it('a warning is a warning: its severity says so', () => {
    const v = assessDrive(
      loopDrive({ isLoop: false, device: '/dev/sdb', raw: '/dev/sdb', size: 2e12, isUSB: true }),
      ctx(),
    );
    expect(v).toEqual({
      status: 'warn',
      reasons: [
        {
          code: 'DRIVE_LARGE',
          severity: 'warn',
          message:
            'This drive is large (2000.0 GB) for an installer stick: make sure it is not a backup disk.',
        },
      ],
    });
  });
});
