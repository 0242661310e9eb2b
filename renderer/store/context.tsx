import { createContext, useContext, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { Actions, AppState, AppStore } from './types.js';

const StoreContext = createContext<AppStore | null>(null);

export function StoreProvider({ store, children }: { store: AppStore; children: ReactNode }) {
  return <StoreContext.Provider value={store}>{children}</StoreContext.Provider>;
}

/** The store itself, for handlers that must read the state of the moment (`getState()`). */
export function useAppStore(): AppStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useApp outside StoreProvider');
  return store;
}

/** Reads the store through a selector; the component re-renders when its result changes. */
export function useApp<T>(selector: (s: AppState) => T): T {
  return useStore(useAppStore(), selector);
}

const actionsOf = new WeakMap<AppStore, Actions>();

/**
 * The actions, as one object that never changes (safe in effect dependencies): every
 * function-valued field of the state. Data is read with `useApp`, or `useAppStore().getState()`
 * in an event handler that needs the state of that moment.
 */
export function useActions(): Actions {
  const store = useAppStore();
  let actions = actionsOf.get(store);
  if (!actions) {
    const state = store.getState() as unknown as Record<string, unknown>;
    actions = Object.fromEntries(
      Object.entries(state).filter(([, v]) => typeof v === 'function'),
    ) as unknown as Actions;
    actionsOf.set(store, actions);
  }
  return actions;
}
