/**
 * The script of the witness pages that do not seal (language choice, start
 * page, key page, offline tool): only the "leave quickly" control. A module
 * script runs after the document is parsed.
 */
import { installLeave } from "./leave.js";

installLeave();
