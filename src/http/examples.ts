/** The README's example operations, opened in GraphiQL's first tab. */
export const GRAPHIQL_DEFAULT_DOCUMENT = `# Reviews API. Reading needs no token; to write, add a header
#   { "Authorization": "Bearer <token from: npx reviews-api token alice --name Alice>" }

query Reviews {
  reviews(first: 5, orderBy: NEWEST) {
    totalCount
    nodes {
      id
      subject
      rating
      title
      author { name }
      commentCount
      comments(first: 3) { nodes { body author { name } } }
    }
    pageInfo { hasNextPage endCursor }
  }
}

mutation CreateReview {
  createReview(input: { subject: "espresso-machine", rating: 5, title: "Great crema", body: "Hot and fast." }) {
    review { id version createdAt }
  }
}
`;
