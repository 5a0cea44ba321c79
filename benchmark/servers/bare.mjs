// The ceiling: bare Koa answering each workload's route with the same body, no session.
import { READ_BODY, newApp, serve } from './common.mjs';

const app = newApp();
app.use(function routes(ctx) {
  switch (ctx.path) {
    case '/read':
      ctx.body = READ_BODY;
      return;
    case '/change':
      ctx.body = '1';
      return;
    case '/new':
      ctx.body = 'created';
      return;
    case '/untouched':
      ctx.body = 'ok';
      return;
    case '/login':
      ctx.body = 'logged in';
      return;
    default:
      ctx.status = 404;
  }
});
serve(app);
