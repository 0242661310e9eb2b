/**
 * The wizard's steps as a tagged union: each step carries what it needs (the review carries
 * the plan main prepared; flashing and done carry the drive), so a screen can never be shown
 * without its data. Switches over `Step['kind']` end in `assertNever`.
 */
import type { ErrorJson, ManyPlan, Plan } from '../lib/api.js';

/** One stick of a several-stick flash and the node it becomes. */
export interface Stick {
  readonly device: string;
  readonly hostname: string;
}

export type Step =
  | { readonly kind: 'image' }
  | { readonly kind: 'node' }
  | { readonly kind: 'keys' }
  | { readonly kind: 'drive' }
  | { readonly kind: 'review'; readonly plan: Plan }
  | { readonly kind: 'flashing'; readonly device: string; readonly hostname: string }
  | { readonly kind: 'done'; readonly device: string; readonly hostname: string }
  // Several sticks from one image read, each its own node (issue 11).
  | { readonly kind: 'review-many'; readonly plan: ManyPlan }
  | { readonly kind: 'flashing-many'; readonly sticks: readonly Stick[] }
  | { readonly kind: 'done-many'; readonly sticks: readonly Stick[] };

export type StepKind = Step['kind'];

/** What fills the window: the wizard, the cluster's roster, or the photo-friendly diagnostics. */
export type Screen =
  | { readonly kind: 'wizard' }
  | { readonly kind: 'cluster' }
  | {
      readonly kind: 'diagnostics';
      readonly error: ErrorJson | null;
      readonly device: string | null;
    };

/** The six places the step list shows; flashing is the second half of "Flash" (review, then write). */
export const NAV = [
  { at: 'image', label: 'Image' },
  { at: 'node', label: 'Node' },
  { at: 'keys', label: 'Keys' },
  { at: 'drive', label: 'Stick' },
  { at: 'review', label: 'Flash' },
  { at: 'done', label: 'Done' },
] as const;
export type NavAt = (typeof NAV)[number]['at'];

export function navOf(step: Step): NavAt {
  switch (step.kind) {
    case 'image':
    case 'node':
    case 'keys':
    case 'drive':
    case 'review':
    case 'done':
      return step.kind;
    case 'flashing':
    case 'review-many':
    case 'flashing-many':
      return 'review';
    case 'done-many':
      return 'done';
    default:
      return assertNever(step);
  }
}

export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`);
}
