export {
  type ChaosMode,
  type ChaosProxy,
  type ChaosProxyOptions,
  type ChaosStats,
  startChaosProxy,
} from './tcp-proxy.ts';
