/** The log message a server writes once it accepts connections, with its GraphQL `url`. */
export const LISTENING = 'listening';
