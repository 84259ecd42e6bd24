// ESLint: the recommended rules of ESLint and typescript-eslint; formatting is Prettier's.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
  { ignores: ["dist/", "cdktf.out/", "coverage/", ".gen/", "node_modules/"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      // `_` names what is left out on purpose (a destructured key, an unused parameter).
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }],
    },
  },
  // The plain-JS helpers are CommonJS modules run by node.
  { files: ["**/*.js"], languageOptions: { sourceType: "commonjs" }, rules: { "@typescript-eslint/no-require-imports": "off" } },
  // Tests read parsed JSON and YAML (kubectl's, Terraform's) loosely.
  { files: ["__tests__/**", "test-support/**"], rules: { "@typescript-eslint/no-explicit-any": "off" } },
);
