import { useEffect, useState, type ReactNode } from 'react';
import { ClusterScreen } from './cluster/cluster-screen.js';
import { Notices } from './components/common.js';
import { DiagnosticsScreen } from './diagnostics/diagnostics-screen.js';
import { useActions, useApp, useAppStore } from './store/context.js';
import { selectCanVisit, selectStepSummary } from './store/selectors.js';
import { assertNever, NAV, navOf, type Step } from './store/steps.js';
import { DriveStep } from './steps/drive-step.js';
import { DoneStep, FlashingStep } from './steps/flash-steps.js';
import { ImageStep } from './steps/image-step.js';
import { KeysStep } from './steps/keys-step.js';
import { DoneManyStep, FlashingManyStep, ReviewManyStep } from './steps/many-steps.js';
import { NodeStep } from './steps/node-step.js';
import { ReviewStep } from './steps/review-step.js';

function StepView({ step }: { readonly step: Step }) {
  switch (step.kind) {
    case 'image':
      return <ImageStep />;
    case 'node':
      return <NodeStep />;
    case 'keys':
      return <KeysStep />;
    case 'drive':
      return <DriveStep />;
    case 'review':
      return <ReviewStep plan={step.plan} />;
    case 'flashing':
      return <FlashingStep device={step.device} hostname={step.hostname} />;
    case 'done':
      return <DoneStep device={step.device} hostname={step.hostname} />;
    case 'review-many':
      return <ReviewManyStep plan={step.plan} />;
    case 'flashing-many':
      return <FlashingManyStep sticks={step.sticks} />;
    case 'done-many':
      return <DoneManyStep sticks={step.sticks} />;
    default:
      return assertNever(step);
  }
}

function StepNav({ step }: { readonly step: Step }) {
  const current = navOf(step);
  const currentIndex = NAV.findIndex((n) => n.at === current);
  const canVisit = useApp((s) => NAV.map((n) => selectCanVisit(s, n.at)).join(','));
  const summaries = useApp((s) => NAV.map((n) => selectStepSummary(s, n.at) ?? '').join('\n'));
  const { goTo } = useActions();
  const allowed = canVisit.split(',');
  const summary = summaries.split('\n');
  return (
    <nav aria-label="Steps" className="stepnav">
      <ol>
        {NAV.map((n, i) => {
          const isCurrent = n.at === current;
          const enabled = !isCurrent && allowed[i] === 'true' && n.at !== 'done';
          const state = isCurrent ? 'current' : i < currentIndex ? 'past' : 'future';
          return (
            <li key={n.at} className={state}>
              <button
                type="button"
                onClick={() => goTo(n.at)}
                disabled={!enabled}
                aria-current={isCurrent ? 'step' : undefined}
              >
                <span className="stepnum" aria-hidden="true">
                  {i + 1}
                </span>
                <span className="steplabel">{n.label}</span>
                {summary[i] && i < currentIndex ? (
                  <span className="stepsummary">{summary[i]}</span>
                ) : null}
              </button>
            </li>
          );
        })}
      </ol>
    </nav>
  );
}

/**
 * Files dropped anywhere on the window. Without this the browser would open the file in place
 * of the app. Images go to the image step, anything else is judged as a key (a private key is
 * refused there, before a byte of it leaves the page).
 */
const IMAGE_NAME = /\.(iso|img|raw|xz|zst|zstd|gz|bz2|zip)$/i;

function useWindowDrop(): boolean {
  const [over, setOver] = useState(false);
  const store = useAppStore();
  useEffect(() => {
    let depth = 0;
    const hasFiles = (e: DragEvent) => e.dataTransfer?.types.includes('Files') ?? false;
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth++;
      setOver(true);
    };
    const leave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setOver(false);
    };
    const overFn = (e: DragEvent) => {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = hasFiles(e) ? 'copy' : 'none';
    };
    const drop = (e: DragEvent) => {
      e.preventDefault();
      depth = 0;
      setOver(false);
      const file = e.dataTransfer?.files[0];
      const a = store.getState();
      const { step, screen } = a.shell;
      if (
        !file ||
        step.kind === 'flashing' ||
        step.kind === 'flashing-many' ||
        screen.kind !== 'wizard'
      )
        return;
      if (step.kind === 'image' || IMAGE_NAME.test(file.name)) {
        if (step.kind !== 'image') a.goTo('image');
        void a.dropImage(file);
      } else {
        if (step.kind !== 'keys' && selectCanVisit(a, 'keys')) a.goTo('keys');
        void a.dropKeyFile(file);
      }
    };
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragleave', leave);
    window.addEventListener('dragover', overFn);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('dragover', overFn);
      window.removeEventListener('drop', drop);
    };
  }, [store]);
  return over;
}

export function App() {
  const step = useApp((s) => s.shell.step);
  const screen = useApp((s) => s.shell.screen);
  const boot = useApp((s) => s.shell.boot);
  const loaded = useApp((s) => s.shell.loaded);
  const info = useApp((s) => s.shell.info);
  const notices = useApp((s) => s.shell.notices);
  const nodeCount = useApp((s) => s.cluster.view?.nodes.length ?? 0);
  const a = useActions();
  const over = useWindowDrop();

  useEffect(() => {
    const controller = new AbortController();
    void a.start(controller.signal);
    return () => controller.abort();
  }, [a]);

  // For tests and the benchmark: `ready` once the first screen takes input, `loaded` once
  // everything loaded at start is in.
  useEffect(() => {
    document.documentElement.dataset['ready'] = boot === 'ready' ? 'true' : 'false';
    if (boot === 'ready') performance.mark('zflash:interactive');
  }, [boot]);
  useEffect(() => {
    document.documentElement.dataset['loaded'] = loaded ? 'true' : 'false';
    if (loaded) performance.mark('zflash:loaded');
  }, [loaded]);

  let body: ReactNode;
  switch (screen.kind) {
    case 'diagnostics':
      return <DiagnosticsScreen error={screen.error} />;
    case 'cluster':
      body = <ClusterScreen />;
      break;
    case 'wizard':
      body = (
        <>
          <StepNav step={step} />
          <main className="main">
            <Notices notices={notices} onDismiss={a.dismissNotice} />
            <StepView step={step} />
          </main>
        </>
      );
      break;
    default:
      return assertNever(screen);
  }

  return (
    <div className="app" data-boot={boot}>
      <header className="topbar">
        <p className="brand">
          Zeta Flash{' '}
          <span className="muted">
            {info ? `${info.version}${info.transport === 'web' ? ' · browser' : ''}` : ''}
          </span>
        </p>
        <div className="topbar-actions">
          {screen.kind === 'wizard' ? (
            <button type="button" className="button quiet" onClick={a.openCluster}>
              Cluster{nodeCount ? ` (${nodeCount})` : ''}
            </button>
          ) : null}
          <button
            type="button"
            className="button quiet"
            onClick={() => void a.openDiagnostics(null, null)}
          >
            Diagnostics
          </button>
        </div>
      </header>
      {body}
      {over ? (
        <div className="drop-overlay" aria-hidden="true">
          <p>Drop to add it</p>
        </div>
      ) : null}
    </div>
  );
}
