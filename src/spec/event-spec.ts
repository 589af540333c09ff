// EventSpec: one event range of an event-service job. Fields follow harvester's harvestercore/event_spec.py.
import { columns, type SpecSchema } from './schema.js';
import { registerSpecClass, specBase } from './spec.js';

/** What the pilot reports in eventStatus. */
export const eventStatuses = ['running', 'finished', 'failed', 'fatal', 'cancelled', 'discarded'] as const;
/** harvester's own progress of an event (subStatus); the last three are final. */
export const eventSubStatuses = ['running', 'transferring', 'finished', 'done', 'failed'] as const;
const finalEventSubStatuses: readonly string[] = ['finished', 'done', 'failed'];
/** The fields the pilot's event update carries and PanDA gets back (harvester's to_data). */
const reportedFields = ['eventRangeID', 'eventStatus', 'coreCount', 'cpuConsumptionTime', 'loss'] as const;

export interface EventSpecFields {
  eventRangeID: string | null;
  PandaID: number | null;
  /** A pilot-reported status (see eventStatuses); kept as given. */
  eventStatus: string | null;
  coreCount: number | null;
  cpuConsumptionTime: number | null;
  subStatus: string | null;
  fileID: number | null;
  loss: string | null;
}

export const eventSpecSchema: SpecSchema = {
  kind: 'EventSpec',
  columns: columns(
    'eventRangeID:text index',
    'PandaID:integer index',
    'eventStatus:text',
    'coreCount:integer',
    'cpuConsumptionTime:integer',
    'subStatus:text index',
    'fileID:integer',
    'loss:text',
  ),
  nonColumns: [],
};

export class EventSpec extends specBase<EventSpecFields>(eventSpecSchema) {
  /** An event from a pilot's update (one dict of the event-update file) for the given job. */
  static fromPayload(pandaID: number, data: Record<string, unknown>): EventSpec {
    const spec = new EventSpec();
    spec.fromData(data, pandaID);
    return spec;
  }

  isFinalStatus(): boolean {
    return this.subStatus !== null && finalEventSubStatuses.includes(this.subStatus);
  }

  /** The event as reported to PanDA: "finished" only once harvester is done with it too. */
  toData(): Record<string, unknown> {
    const data: Record<string, unknown> = {};
    for (const name of reportedFields) {
      let value: unknown = this[name];
      if (name === 'eventStatus' && value === 'finished' && !this.isFinalStatus()) value = 'running';
      if (value !== null) data[name] = value;
    }
    return data;
  }

  /**
   * Takes the known fields of a pilot's event dict (others are ignored, as in harvester) and the PandaID.
   * Throws SpecFieldError when a known field has the wrong type.
   */
  fromData(data: Record<string, unknown>, pandaID: number): void {
    for (const [name, value] of Object.entries(data)) {
      if ((EventSpec.fieldNames as readonly string[]).includes(name)) this.setField(name, value);
    }
    this.PandaID = pandaID;
  }
}
registerSpecClass(EventSpec);
