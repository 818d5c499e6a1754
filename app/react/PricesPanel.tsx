/**
 * The `prices` channel (the server's feed) as a table, read only. The table sits in a
 * `<Profiler>` whose commits the page counts (./probe.ts): under a flood it commits at most once
 * per frame, because `useChannel` re-renders on the connection's coalesced render.
 */
import { Profiler } from 'react';
import { useChannel } from '../../src/react/index.js';
import { storeRows } from '../../src/views/dom.js';
import { APP_CHANNELS } from '../channels.js';
import { Panel } from './ChannelPanel.js';
import { countCommit } from './probe.js';

export function PricesPanel() {
  const { data = {}, status } = useChannel(APP_CHANNELS.prices);
  return (
    <Panel
      name={APP_CHANNELS.prices}
      status={status}
      hint={
        <>
          The server's feed (<code>--feed-channel prices</code>): read only.
        </>
      }
    >
      <table>
        <colgroup>
          <col className="col-key" />
          <col className="col-value" />
        </colgroup>
        <thead>
          <tr>
            <th scope="col">Symbol</th>
            <th scope="col">Price</th>
          </tr>
        </thead>
        <Profiler id="prices" onRender={countCommit}>
          <tbody id="prices-rows">
            {storeRows(data).map(({ key, cells }) => (
              <tr key={key} data-key={key}>
                {cells.map((cell, index) => (
                  <td key={index}>{cell}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </Profiler>
      </table>
    </Panel>
  );
}
