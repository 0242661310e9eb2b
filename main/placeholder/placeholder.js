// Stands in for the React wizard until renderer/ is built: it exercises window.zflash (the
// same API the wizard will use) so `npm start` and `npm run web` show a working app.
'use strict';

const $ = (id) => document.getElementById(id);
const show = (id, value) => {
  $(id).textContent = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
};
const unwrap = (result) => {
  if (result.ok) return result.value;
  show('status', `${result.error.code}: ${result.error.message}`);
  throw Object.assign(new Error(result.error.message), { zflash: result.error });
};

async function diagnostics(error) {
  const view = unwrap(
    await window.zflash.diagnostics({ error: error ?? null, device: null, image: null }),
  );
  show('diagnostics-text', view.text);
  $('diagnostics-qr').src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(view.qrSvg)}`;
}

function renderDrives(drives) {
  const list = $('drives');
  list.replaceChildren(
    ...[...drives.values()].map((d) => {
      const li = document.createElement('li');
      li.textContent = `${d.drive.device} — ${d.drive.description || 'drive'} — ${d.verdict.status}`;
      return li;
    }),
  );
}

async function main() {
  if (!window.zflash) {
    show('status', 'window.zflash is missing: the preload or the web shell script did not run.');
    return;
  }
  show('app-info', unwrap(await window.zflash.appInfo()));
  const drives = new Map();
  for (const d of unwrap(await window.zflash.listDrives())) drives.set(d.drive.device, d);
  renderDrives(drives);
  const watch = new AbortController();
  window.addEventListener('pagehide', () => watch.abort());
  window.zflash.onDriveEvent(
    (e) => {
      if (e.type === 'attach' || e.type === 'change') drives.set(e.drive.drive.device, e.drive);
      if (e.type === 'detach') drives.delete(e.drive.drive.device);
      renderDrives(drives);
    },
    { signal: watch.signal },
  );
  window.zflash.onShowDiagnostics(() => void diagnostics(null), { signal: watch.signal });
  $('pick-image').addEventListener('click', async () => {
    const path = unwrap(await window.zflash.pickImage());
    if (!path) return;
    const info = await window.zflash.inspectImage({ path });
    if (info.ok) show('image-info', info.value);
    else await diagnostics(info.error);
  });
  $('show-diagnostics').addEventListener('click', () => void diagnostics(null));
}

void main().catch((err) => show('status', String(err && err.message ? err.message : err)));
