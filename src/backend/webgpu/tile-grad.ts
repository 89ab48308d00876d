/**
 * The gradient of tfjs's Tile on webgpu: the sum of dy over the copies, as
 * one reduction of dy viewed [reps0, x0, reps1, x1, ...] (a reshape costs no
 * dispatch; axes tiled once are left as they are). tfjs's own adds the
 * copies one slice at a time: 2 dispatches a copy (17 for broadcastStyles'
 * 8 style slots). Twice differentiable: reshape and sum are. Views of more
 * than 6 dimensions go to tfjs's gradient (webgpu's limit).
 */
import { tf, type Tensor } from '../../tf.js';

type GradFunc = tf.GradConfig['gradFunc'];

export const tileGradient = (theirs: GradFunc): GradFunc => (dy, saved, attrs) => {
  const [x] = saved;
  const reps = (attrs as unknown as { reps: number[] }).reps;
  const view: number[] = [], axes: number[] = [];
  x.shape.forEach((d, i) => {
    if (reps[i] > 1) axes.push(view.push(reps[i]) - 1);
    view.push(d);
  });
  if (view.length > 6) return theirs(dy, saved, attrs);
  return { x: () => tf.tidy(() => tf.reshape(tf.sum(tf.reshape(dy as Tensor, view), axes), x.shape)) };
};
