import { Graph, GraphError, Node, Tensor, Value } from '../../src/ir';

function relu(g: Graph, x: Value, name: string): Node {
  return g.addNode(new Node({ opType: 'Relu', name, inputs: [x], outputs: [new Value(`${name}_out`)] }));
}

describe('Value uses', () => {
  it('are maintained by the Node constructor and setInput', () => {
    const g = new Graph();
    const x = new Value('x');
    const a = relu(g, x, 'r').outputs[0];
    const add = g.addNode(new Node({ opType: 'Add', name: 'add', inputs: [a, a], outputs: [new Value('y')] }));
    expect(a.uses.map((u) => [u.node.name, u.index])).toEqual([['add', 0], ['add', 1]]);
    expect(a.producer?.name).toBe('r');
    expect(a.producerIndex).toBe(0);

    add.setInput(1, x);
    expect(a.uses.map((u) => u.index)).toEqual([0]);
    expect(x.uses.map((u) => [u.node.name, u.index])).toEqual([['r', 0], ['add', 1]]);

    add.setInput(0, null);
    expect(a.uses).toHaveLength(0);
    expect(add.inputs).toEqual([null, x]);
  });

  it('replaceAllUsesWith rewires every node input and, when given, graph outputs', () => {
    const g = new Graph();
    const x = new Value('x');
    const a = relu(g, x, 'r1').outputs[0];
    const n2 = relu(g, a, 'r2');
    const n3 = g.addNode(new Node({ opType: 'Mul', inputs: [a, n2.outputs[0]], outputs: [new Value('m')] }));
    g.outputs = [a, n3.outputs[0]];

    a.replaceAllUsesWith(x, g.outputs);
    expect(a.uses).toHaveLength(0);
    expect(n2.inputs[0]).toBe(x);
    expect(n3.inputs[0]).toBe(x);
    expect(x.uses.map((u) => u.node.name)).toEqual(['r1', 'r2', '']);
    expect(g.outputs[0]).toBe(x);
    expect(g.outputs[1]).toBe(n3.outputs[0]);
  });

  it('removeNode refuses while outputs are used, then disconnects inputs and outputs', () => {
    const g = new Graph();
    const x = new Value('x');
    const n1 = relu(g, x, 'r1');
    const n2 = relu(g, n1.outputs[0], 'r2');
    expect(() => g.removeNode(n1)).toThrow(GraphError);
    expect(() => g.removeNode(n1)).toThrow(/'r1_out' still has 1 use/);

    g.removeNode(n2);
    expect(n1.outputs[0].uses).toHaveLength(0);
    expect(n2.outputs).toHaveLength(0);
    expect(n2.graph).toBeNull();
    g.removeNode(n1);
    expect(x.uses).toHaveLength(0);
    expect(g.nodes).toHaveLength(0);
    expect(() => g.removeNode(n1)).toThrow(/is not in graph/);
  });

  it('removeNode with force leaves dangling consumers reading a producer-less value', () => {
    const g = new Graph();
    const n1 = relu(g, new Value('x'), 'r1');
    const out = n1.outputs[0];
    relu(g, out, 'r2');
    g.removeNode(n1, true);
    expect(out.producer).toBeNull();
    expect(out.uses).toHaveLength(1);
  });
});

describe('Graph.sortTopologically', () => {
  it('orders consumers after producers and keeps the existing order where valid', () => {
    const g = new Graph();
    const x = new Value('x');
    const a = new Node({ opType: 'Relu', name: 'a', inputs: [x], outputs: [new Value('av')] });
    const b = new Node({ opType: 'Relu', name: 'b', inputs: [a.outputs[0]], outputs: [new Value('bv')] });
    const c = new Node({ opType: 'Relu', name: 'c', inputs: [x], outputs: [new Value('cv')] });
    const d = new Node({ opType: 'Add', name: 'd', inputs: [b.outputs[0], c.outputs[0]], outputs: [new Value('dv')] });
    for (const n of [d, b, c, a]) g.addNode(n);
    g.sortTopologically();
    // c is ready from the start and came before a in the original order.
    expect(g.nodes.map((n) => n.name)).toEqual(['c', 'a', 'b', 'd']);

    const sorted = new Graph();
    for (const n of [a, c, b, d]) sorted.addNode(n);
    sorted.sortTopologically();
    expect(sorted.nodes.map((n) => n.name)).toEqual(['a', 'c', 'b', 'd']);
  });

  it('detects a cycle', () => {
    const g = new Graph();
    const p = new Node({ opType: 'Relu', name: 'p', outputs: [new Value('pv')] });
    const q = new Node({ opType: 'Relu', name: 'q', inputs: [p.outputs[0]], outputs: [new Value('qv')] });
    p.appendInput(q.outputs[0]);
    g.addNode(p);
    g.addNode(q);
    expect(() => g.sortTopologically()).toThrow(/has a cycle/);
  });
});

describe('Graph.uniqueName', () => {
  it('avoids values, initializers, value infos and node names', () => {
    const g = new Graph();
    g.inputs.push(new Value('x'));
    g.addInitializer('w', Tensor.fromArray('float32', [1], new Float32Array([1])));
    g.valueInfos.push(new Value('w_1'));
    relu(g, g.inputs[0], 'x_1');
    expect(g.uniqueName('fresh')).toBe('fresh');
    expect(g.uniqueName('x')).toBe('x_2'); // x_1 is a node name
    expect(g.uniqueName('w')).toBe('w_2'); // w_1 is a value_info
    expect(g.uniqueName('x_1_out')).toBe('x_1_out_1');
  });
});
