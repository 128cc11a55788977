import { Injectable } from '@nestjs/common';
import { DataSource, type EntitySubscriberInterface, type TransactionCommitEvent } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import { IdempotencyKeysRepository } from './idempotency-keys.repository';
import { currentAttempt } from './idempotent-attempt';

/**
 * Marks a claimed Idempotency-Key's work committed, in the very transaction that commits it: every
 * transaction a request with a claimed key commits, before its COMMIT (TypeORM's
 * beforeTransactionCommit), except those of a step run apartFromTheWork() (a placeholder the
 * work's last transaction completes, a clean-up after a failure). After a crash the key then tells
 * whether the work committed: if not, a retry may take it over once
 * IDEMPOTENCY_KEY_IN_FLIGHT_SECONDS have passed, and does the work; if so, it stays in flight
 * until it expires, and the work is never done twice. A live request whose work committed is
 * never let go of either, whatever its answer (see IdempotencyService.settle).
 *
 * Every transaction counts unless it says otherwise, rather than only those that say they are the
 * work: a transaction of the work left unmarked by mistake could be done twice, one marked by
 * mistake only keeps its key longer.
 *
 * A request whose key was taken over meanwhile (it was that late) cannot commit its work any more:
 * the mark finds no row of its claim, and its transaction is rolled back with
 * 409 idempotency_key_in_use, so the work is done once, by the retry. The row's lock orders the
 * two: a takeover waits for a committing request, and then sees its work committed.
 *
 * Not a service's own step, so that the services keep their transactions to themselves, as they
 * do for the answer (see IdempotencyService). Transactions outside a claimed request, and those of
 * a request already answered, are left alone.
 */
@Injectable()
export class IdempotentWorkSubscriber implements EntitySubscriberInterface {
  constructor(
    dataSource: DataSource,
    private readonly keys: IdempotencyKeysRepository,
  ) {
    dataSource.subscribers.push(this);
  }

  async beforeTransactionCommit(event: TransactionCommitEvent): Promise<void> {
    const attempt = currentAttempt();
    if (attempt?.state !== 'claimed' || !attempt.claimId) return;
    if (await this.keys.markWorkCommitted(event.queryRunner, attempt.ref, attempt.claimId)) return;
    // Lost for good: the transactions of its clean-up (its stored files' deletion) go ahead.
    attempt.state = 'lost';
    throw new AppError(
      'idempotency_key_in_use',
      'This request took so long that a retry with its Idempotency-Key took over: the retry ' +
        'gets the answer.',
    );
  }
}
