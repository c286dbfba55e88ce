# Fails when docs/workflow.md does not hold exactly the Mermaid diagram and the reason-code tables the
# machine exports now.
foreach(format mermaid reasons)
  execute_process(COMMAND ${RETURNFLOW} workflow --format ${format} OUTPUT_VARIABLE exported_${format}
                  RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "returnflow workflow --format ${format} failed (${status})")
  endif()
endforeach()
file(READ ${DOC} document)
string(FIND "${document}" "```mermaid\n${exported_mermaid}```" position)
if(position EQUAL -1)
  message(FATAL_ERROR "docs/workflow.md is out of date (diagram): run ./scripts/render-workflow.sh")
endif()
string(FIND "${document}" "${exported_reasons}" position)
if(position EQUAL -1)
  message(FATAL_ERROR "docs/workflow.md is out of date (reason codes): run ./scripts/render-workflow.sh")
endif()
