// Public surface of @longshore/ledger: the claim ledger port and its Redis adapter.
export {
  type AllClaimsOptions,
  type ClaimLedger,
  type ClaimRecord,
  type ClaimStep,
  LedgerCorruptError,
  type PendingClaim,
  RedisClaimLedger,
  type RedisClaimLedgerOptions,
} from './ledger.ts';
