/**
 * Places for live subscriptions: at most `total` at once, `perAddress` of them from one client
 * address. Pure counts, so the supervisor of a host of several processes (which loads no
 * GraphQL) keeps the host's, and a lone process its own.
 */
export class SubscriptionSeats {
  private taken = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(
    private readonly total: number,
    private readonly perAddress: number,
  ) {}

  /** Takes a place for `address`; false, taking nothing, when either bound is reached. */
  take(address: string): boolean {
    const fromAddress = this.byAddress.get(address) ?? 0;
    if (this.taken >= this.total || fromAddress >= this.perAddress) return false;
    this.taken++;
    this.byAddress.set(address, fromAddress + 1);
    return true;
  }

  give(address: string): void {
    const fromAddress = this.byAddress.get(address);
    if (fromAddress === undefined) return;
    this.taken--;
    if (fromAddress > 1) this.byAddress.set(address, fromAddress - 1);
    else this.byAddress.delete(address);
  }
}
