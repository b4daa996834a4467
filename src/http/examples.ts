/**
 * The README's example operations, opened in GraphiQL's first tab (a test checks that the
 * README's read query and this `Reviews` operation are the same). Run one with the ▶ button.
 */
export const GRAPHIQL_DEFAULT_DOCUMENT = `# Reviews API. Reading needs no token. To write, open "Headers" below and add
#   { "Authorization": "Bearer <token>" }
# with a token from: npx reviews-api token alice --name Alice

query Reviews {
  reviews(first: 20, orderBy: NEWEST) {
    totalCount
    nodes {
      id
      title
      rating
      author { name }
      commentCount
      comments(first: 5) { nodes { body author { name } } }
    }
    pageInfo { hasNextPage endCursor }
  }
}

mutation CreateReview {
  createReview(input: { subject: "espresso-machine", rating: 5, title: "Great crema", body: "Hot and fast." }) {
    review { id version }
  }
}

# Live updates: run this, then add a comment from another tab (the review's id from above).
subscription CommentAdded {
  commentAdded(reviewId: "UmV2aWV3OjE=") { id body author { name } }
}
`;
