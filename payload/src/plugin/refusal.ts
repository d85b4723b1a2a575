import { APIError } from 'payload'

/**
 * An expected refusal (4xx): the client's request was wrong (bad parameters, a body cut short, a
 * checksum mismatch, over the limit, an unknown id). distributionPlugin maps its name to Payload's
 * `loggingLevels` as `info`, so Payload logs its message only, without a stack trace; anything else
 * thrown stays an error. The name is set here, not taken from the class, which a bundler may rename.
 */
export class Refusal extends APIError {
  static readonly NAME = 'DistributionRefusal'

  constructor(message: string, status: number) {
    super(message, status)
    this.name = Refusal.NAME
  }
}
