/**
 * What product-enrichment/ used before ImageFilesService held every storage question of images/:
 * kept only until it injects ImageFilesService (exported by ImagesModule), then deleted.
 * @deprecated inject ImageFilesService.
 */
export { imageStorageKeys, imageUrls, type ImageUrls } from './image-files.service';
