import { InlineEngine } from '../src/engine/engine.js';
import { runEngineConformance } from './engine-conformance.case.js';

runEngineConformance('inline', (opts) => InlineEngine.create(opts));
