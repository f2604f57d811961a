// Reference for the `standard` caption analyser: Lucene's own StandardAnalyzer (no stop words),
// the analyser behind Elasticsearch's `standard` analyser and `match_phrase` (FIT §3.1).
//
//   java -cp lucene-core.jar:lucene-memory.jar:. LuceneReference tokens < captions.txt
//       one line per input line: its tokens, tab-separated (a token never holds a tab/newline)
//   java -cp ... LuceneReference count captions.txt phrases.txt
//       indexes every caption line as one document, runs each phrase line as a phrase query
//       (QueryBuilder.createPhraseQuery, as match_phrase does) and prints the hit count per line
// Input is UTF-8, one item per line ("\n"-separated; items must not contain \r or \n).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.standard.StandardAnalyzer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.store.ByteBuffersDirectory;
import org.apache.lucene.util.QueryBuilder;

public final class LuceneReference {
  public static void main(String[] args) throws Exception {
    StandardAnalyzer analyzer = new StandardAnalyzer(CharArraySet.EMPTY_SET);
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    if (args.length == 1 && args[0].equals("tokens")) {
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      String line;
      while ((line = in.readLine()) != null) {
        StringBuilder sb = new StringBuilder();
        try (TokenStream ts = analyzer.tokenStream("text", line)) {
          CharTermAttribute term = ts.addAttribute(CharTermAttribute.class);
          ts.reset();
          boolean first = true;
          while (ts.incrementToken()) {
            if (!first) sb.append('\t');
            sb.append(term);
            first = false;
          }
          ts.end();
        }
        out.println(sb);
      }
    } else if (args.length == 3 && args[0].equals("count")) {
      List<String> captions = Files.readAllLines(Paths.get(args[1]), StandardCharsets.UTF_8);
      List<String> phrases = Files.readAllLines(Paths.get(args[2]), StandardCharsets.UTF_8);
      ByteBuffersDirectory dir = new ByteBuffersDirectory();
      try (IndexWriter writer = new IndexWriter(dir, new IndexWriterConfig(analyzer))) {
        for (String caption : captions) {
          Document doc = new Document();
          doc.add(new TextField("text", caption, Field.Store.NO));
          writer.addDocument(doc);
        }
      }
      try (DirectoryReader reader = DirectoryReader.open(dir)) {
        IndexSearcher searcher = new IndexSearcher(reader);
        QueryBuilder builder = new QueryBuilder(analyzer);
        for (String phrase : phrases) {
          Query query = builder.createPhraseQuery("text", phrase);
          out.println(query == null ? -1 : searcher.count(query));
        }
      }
    } else {
      System.err.println("usage: LuceneReference tokens < lines | count captions.txt phrases.txt");
      System.exit(2);
    }
    out.flush();
  }
}
