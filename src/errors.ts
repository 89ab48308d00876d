/**
 * The one error type the library throws for bad input. `file` names the file
 * at fault (when there is one) so batch jobs can report it and go on.
 */
export class AlaeError extends Error {
  readonly file: string | undefined;
  constructor(message: string, file?: string) {
    super(file ? `${file}: ${message}` : message);
    this.name = 'AlaeError';
    this.file = file;
  }
}
