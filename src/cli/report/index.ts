export { renderHuman } from './human';
export { renderJson } from './json';
export { renderMarkdown } from './markdown';
export { renderJUnit } from './junit';
export { evalRows, budgetText, settingsLine, type EvalRow } from './rows';
