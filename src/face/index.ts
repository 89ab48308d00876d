/** Faces in the wild: detection (face-api), FFHQ/CelebA alignment, model-ready crops. */
export { FaceDetector, loadFaceApi, faceApiModelDir } from './detect.js';
export type { DetectedFace, DetectOptions, FaceBox, Point } from './detect.js';
export { alignFace, faceQuad, mapToAligned, quadTransform, reflectPad, gaussianBlur } from './align.js';
export type { AlignMode, AlignOptions, FaceQuad } from './align.js';
export { extractFaces, squareTo } from './faces.js';
export type { AlignChoice, FaceCrop, FaceCropOptions, FaceSelection } from './faces.js';
