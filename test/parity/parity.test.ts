import { beforeAll } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { parityTests } from './parity-cases.js';

beforeAll(testBackend);

parityTests('parity with the reference implementation');
