/** How a GraphQL root field is served as REST: read by the route table and the OpenAPI writer. */
export interface RestRoute {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  tags: string[];
  responseStatus?: 200 | 201;
}
