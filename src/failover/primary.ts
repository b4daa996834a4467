import type { Config } from '../config.ts';
import type { Host } from '../host/host.ts';
import { type App, createApp } from '../http/yoga.ts';
import type { Tenure } from '../lease/keeper.ts';
import { closeServing } from '../lifecycle.ts';
import type { Logger } from '../logger.ts';
import { startReplication } from '../replication/primary.ts';
import { PrimaryPositions } from './positions.ts';
import { fencedPrimary } from './roles.ts';
import { type CatchUp, step, type Takeover, type Timings, takeOver } from './takeover.ts';

/** What the node tells its primary's /ready. */
export interface PrimaryView {
  /** The node's own state: deposed once the lease was lost (not released on purpose). */
  isDeposed: () => boolean;
  /** Its attempts at promotion so far (PromotionHistory). */
  promotions: () => Record<string, unknown>;
}

/**
 * A primary, from its takeover to its close: it owns the database it writes, Litestream
 * replicating it, the app that serves it, and the positions its writes' answers name. Deposed
 * (its lease lapsed), it stops replicating at once; the lease regained, it replicates the same
 * database again as a new Primary.
 */
export class Primary {
  readonly app: App;
  readonly positions: PrimaryPositions;

  private constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly serving: Takeover,
    private readonly tenure: Tenure,
    private readonly view: PrimaryView,
    private readonly host: Host,
  ) {
    this.app = createApp({
      db: serving.db,
      config,
      logger,
      host,
      node: fencedPrimary(tenure, serving.replication.node, view.isDeposed, view.promotions),
    });
    this.positions = new PrimaryPositions(config.databasePath);
  }

  /**
   * The newest data, migrations, Litestream (src/failover/takeover.ts), then the app, with the
   * lease already in hand: whatever was started is stopped again should a step fail.
   */
  static async takeOver(
    config: Config,
    logger: Logger,
    tenure: Tenure,
    catchUp: CatchUp,
    timings: Timings,
    view: PrimaryView,
    host: Host,
  ): Promise<Primary> {
    const serving = await takeOver(config, logger, () => tenure.whyNotHeld(), catchUp, timings);
    try {
      return await step(
        timings,
        logger,
        'serve as primary',
        () => new Primary(config, logger, serving, tenure, view, host),
      );
    } catch (error) {
      await closeServing(serving, { shipFirst: false });
      throw error;
    }
  }

  /** The lease lapsed: Litestream must not ship another frame nor start a generation of its own. */
  stopReplication(): Promise<void> {
    return this.serving.replication.stop();
  }

  /** The lease taken up again: the same database replicated again, by a new Litestream. */
  async replicateAgain(): Promise<Primary> {
    const replication = await startReplication(this.config, this.logger);
    return new Primary(
      this.config,
      this.logger,
      { db: this.serving.db, replication },
      this.tenure,
      this.view,
      this.host,
    );
  }

  /** The database closed, then Litestream stopped: after shipping its last frames if `shipFirst` (a planned stop). */
  close(options: { shipFirst: boolean }): Promise<void> {
    return closeServing(this.serving, options);
  }
}
